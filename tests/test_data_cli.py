"""``scratchnet datasets`` and ``scratchnet explore`` end to end on the real local datasets."""
import re

import numpy as np
import pytest
from conftest import dataset_dir
from PIL import Image

from scratchnet import cli

PNGS = ("class_counts.png", "samples.png", "class_means.png", "pixel_variance.png", "label_correlation.png")


pytestmark = pytest.mark.usefixtures("isolated_data_places")


def test_datasets_lists_where_each_is_found(monkeypatch, capsys):
    fashion = dataset_dir("fashion-mnist")
    monkeypatch.setenv("SCRATCHNET_DATA", str(fashion.parent))
    assert cli.main(["datasets"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert f"{fashion.resolve()} ($SCRATCHNET_DATA)" in rows["fashion-mnist"]
    assert rows["fashion-mnist"].split()[1:4] == ["60,000", "10,000", "1×28×28"]
    assert rows["kmnist"].endswith("missing")
    cifar = rows["cifar-10"].split()
    if cifar[-1] == "missing":  # the official sizes, as the registry declares them
        assert cifar[1:4] == ["50,000", "10,000", "3×32×32"]
    else:  # a local copy (this workspace's is a 40,000-image development copy): its own counts
        assert int(cifar[1].replace(",", "")) <= 50_000 and cifar[2:4] == ["10,000", "3×32×32"]


def test_datasets_with_root_flags_the_mnist_subset(capsys):
    assert cli.main(["datasets", "--root", str(dataset_dir("mnist-10k"))]) == 0
    mnist_row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("mnist "))
    assert "10,000" in mnist_row and "[MNIST 10k subset" in mnist_row


def test_datasets_labels_the_cifar_dev_copy_as_its_readme_requires(capsys):
    assert cli.main(["datasets", "--root", str(dataset_dir("cifar-10"))]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("cifar-10 "))
    if row.split()[1] == "50,000":
        pytest.skip("the CIFAR-10 copy here is complete, not the 40,000-image development copy")
    assert "[CIFAR-10 dev copy (test carved from the training set)" in row and "subset" not in row


def test_download_of_an_unknown_dataset_is_a_usage_error(capsys):
    assert cli.main(["datasets", "download", "imagenet"]) == 2
    assert "known datasets: mnist, mnist-10k, fashion-mnist, kmnist, cifar-10" in capsys.readouterr().err


def test_explore_fashion_mnist_writes_pngs_and_a_summary(tmp_path, capsys):
    assert cli.main(["explore", "fashion-mnist", "--root", str(dataset_dir("fashion-mnist")),
                     "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    for name in PNGS:
        with Image.open(tmp_path / "out" / name) as image:
            assert image.format == "PNG" and min(image.size) > 200
    assert "60,000 training and 10,000 test images" in out
    assert re.search(r"Ankle boot +6,000 +1,000", out)
    assert "constant pixels (train): 0 of 784" in out and "mean 0.2860; std 0.3530" in out


def test_explore_mnist_subset_marks_constant_pixels_undefined(tmp_path, capsys):
    folder = dataset_dir("mnist-10k")
    assert cli.main(["explore", "mnist", "--root", str(folder), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    from scratchnet import data
    x = data.load("mnist", root=folder, progress=False).x_train
    constant = int((x.min(axis=0) == x.max(axis=0)).sum())
    assert constant > 0 and f"constant pixels (train): {constant} of 784" in out
    assert "note: MNIST 10k subset" in out
    assert np.isfinite([float(v) for v in out.split("mean |r| ")[1].split()[:1]]).all()


def test_explore_draws_colour_images(tmp_path, capsys):
    from builders import write_cifar_archive
    write_cifar_archive(tmp_path / "cifar-10-binary.tar.gz", n_per_batch=6)
    assert cli.main(["explore", "cifar-10", "--root", str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    assert re.search(r"mean (0\.\d{4}, ){2}0\.\d{4}; std", capsys.readouterr().out)  # one per channel
    with Image.open(tmp_path / "out" / "samples.png") as image:
        assert image.mode == "RGBA" and image.size[0] > 400


def test_datasets_marks_a_broken_copy(tmp_path, capsys):
    (tmp_path / "kmnist").mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / "kmnist" / name).write_bytes(b"not an idx file")
    assert cli.main(["datasets", "--root", str(tmp_path)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("kmnist"))
    assert "BROKEN" in row and "bad magic number" in row
