"""Dataset names users can type: any case, "did you mean", the mnist-10k subset (always labelled
a subset), and the workspace's datasets folder in the search order."""
import pytest
from conftest import SHARED_DATASETS, dataset_dir, run_python

from scratchnet import cli, data
from scratchnet.data import locate, registry

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


def test_the_subset_has_no_download(capsys):
    assert cli.main(["datasets", "download", "mnist-10k"]) == 2
    assert "download the full dataset: scratchnet datasets download mnist" in capsys.readouterr().err
    with pytest.raises(data.DatasetNotFoundError, match="cannot be downloaded"):
        data.load("mnist-10k")  # nowhere (the fixture hides every place), and no mirror to try
    assert cli.main(["datasets"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("mnist-10k "))
    assert row.split()[1:3] == ["-", "-"] and "a local subset of mnist; no download" in row


def test_the_workspace_folder_is_the_checkouts_sibling():
    # A fresh process: this module's fixture replaces the folder with an empty one.
    assert run_python("from scratchnet.data import locate; print(locate.WORKSPACE_DATASETS)") == str(SHARED_DATASETS)
