"""Dataset names users can type: any case, "did you mean", the mnist-10k subset (always labelled
a subset), and the workspace's datasets folder in the search order."""
import numpy as np
import pytest
from conftest import SHARED_DATASETS, dataset_dir, run_python

from scratchnet import cli, data
from scratchnet.data import locate, registry
from scratchnet.data.idx import write_idx

pytestmark = pytest.mark.usefixtures("isolated_data_places")


@pytest.mark.parametrize("typed", ["Fashion-MNIST", "FASHION-MNIST", "fashion-mnist"])
def test_dataset_names_are_case_insensitive(typed):
    assert registry.canonical(typed) == "fashion-mnist" and registry.info(typed).title == "Fashion-MNIST"


def test_a_misspelt_dataset_gets_a_suggestion(capsys):
    with pytest.raises(ValueError, match=r"did you mean 'fashion-mnist'\?"):
        registry.info("fashon-mnist")
    assert cli.main(["explore", "fahion-mnist"]) == 2
    assert "did you mean 'fashion-mnist'?" in capsys.readouterr().err


def test_mnist_10k_is_a_named_subset_labelled_as_such(monkeypatch, capsys):
    monkeypatch.setattr(locate, "WORKSPACE_DATASETS", dataset_dir("mnist-10k").parent)
    ds = data.load("MNIST-10k")
    assert ds.name == "mnist-10k" and len(ds.x_train) == 10_000 and ds.is_subset
    assert ds.note == "MNIST 10k subset (10,000 of the 60,000 training images)"
    assert "workspace datasets beside the checkout): MNIST 10k subset" in capsys.readouterr().err
    assert cli.main(["datasets"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("mnist-10k "))
    assert "[MNIST 10k subset" in row


def test_offline_mnist_points_at_the_subset(monkeypatch):
    monkeypatch.setattr(locate, "WORKSPACE_DATASETS", dataset_dir("mnist-10k").parent)
    with pytest.raises(data.DatasetNotFoundError, match="A subset is here, usable offline: .*--dataset mnist-10k"):
        data.load("mnist", download=False)


def test_without_its_folder_the_subset_is_drawn_from_the_full_dataset(tmp_path, monkeypatch, capsys):
    full = tmp_path / "env" / "mnist"  # a stand-in for a downloaded MNIST: 10,050 training images
    full.mkdir(parents=True)
    rng = np.random.default_rng(0)
    labels = np.arange(10_050) % 10
    write_idx(full / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (10_050, 28, 28), dtype=np.uint8))
    write_idx(full / "train-labels-idx1-ubyte.gz", labels.astype(np.uint8))
    write_idx(full / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (30, 28, 28), dtype=np.uint8))
    write_idx(full / "t10k-labels-idx1-ubyte.gz", (np.arange(30) % 10).astype(np.uint8))
    monkeypatch.setenv("SCRATCHNET_DATA", str(full.parent))
    ds = data.load("mnist-10k")
    assert ds.name == "mnist-10k" and len(ds.x_train) == 10_000 and len(ds.x_test) == 30
    assert np.bincount(ds.y_train).tolist() == [1000] * 10  # class proportions kept
    assert ds.note.startswith("MNIST 10k subset (10,000 of the 60,000 training images")
    assert "drawn with seed 0 from mnist" in ds.note and "drawn with seed 0" in capsys.readouterr().err
    again = data.load("mnist-10k", progress=False)
    assert np.array_equal(again.x_train, ds.x_train)  # the same draw every time
    assert cli.main(["datasets"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("mnist-10k "))
    assert "no folder: drawn from mnist on first use" in row
    assert cli.main(["datasets", "download", "mnist-10k"]) == 2
    assert "scratchnet datasets download mnist" in capsys.readouterr().err


def test_the_workspace_folder_is_the_checkouts_sibling():
    # A fresh process: this module's fixture replaces the folder with an empty one.
    assert run_python("from scratchnet.data import locate; print(locate.WORKSPACE_DATASETS)") == str(SHARED_DATASETS)
