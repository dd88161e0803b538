"""The datasets scratchnet knows: their files, official mirrors, checksums and class names.

Checksums are those of the official downloads (the gzip or tar bytes as published), the
same ones torchvision and the datasets' authors list. They are checked on download only:
local copies (e.g. Debian's ``dataset-fashion-mnist``) may have been compressed again, so
those are validated structurally instead (see ``idx`` and ``cifar``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..suggest import did_you_mean


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset as published: its name on every mirror and its digests.

    ``local_names`` are the other names a local copy may have (decompressed, or the
    extracted folder) and that the readers accept as well. ``size`` is the published length
    in bytes where known: a download stops there.
    """

    name: str
    md5: str
    sha256: str | None = None
    local_names: tuple[str, ...] = ()
    size: int | None = None


@dataclass(frozen=True)
class DatasetInfo:
    """What scratchnet knows about a dataset before reading it.

    ``format`` is ``"idx"`` (four IDX files: train/test images and labels) or
    ``"cifar-binary"`` (one tarball of fixed-size records). ``image_shape`` is (C, H, W);
    ``train_size`` and ``test_size`` are the official counts (a smaller local copy is a subset).
    ``subset_of`` names the full dataset of a registered subset (e.g. ``mnist-10k``), and
    ``subset_size`` its training images. A subset has no mirrors: its own folder is used where
    one exists (this project's workspace has ``mnist-10k``), else it is drawn, with seed 0 and
    class proportions kept, from the full dataset (found or downloaded). Holding fewer images
    than the official counts, it is labelled a subset wherever its numbers are printed.
    """

    name: str
    title: str
    format: str
    files: tuple[RemoteFile, ...]
    mirrors: tuple[str, ...]
    classes: tuple[str, ...]
    image_shape: tuple[int, int, int]
    train_size: int
    test_size: int
    homepage: str
    subset_of: str | None = None
    subset_size: int | None = None


def _idx_files(md5s: tuple[str, str, str, str], sizes=(None,) * 4) -> tuple[RemoteFile, ...]:
    names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    # Decompressed copies are named without ".gz"; MNIST's unzipped files are often "train-images.idx3-ubyte".
    return tuple(
        RemoteFile(name, md5, local_names=(name[:-3], name[:-3].replace("-idx", ".idx")), size=size)
        for name, md5, size in zip(names, md5s, sizes)
    )


MNIST = DatasetInfo(
    name="mnist",
    title="MNIST",
    format="idx",
    files=_idx_files(("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
                      "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"),
                     sizes=(9_912_422, 28_881, 1_648_877, 4_542)),
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
             "https://storage.googleapis.com/cvdf-datasets/mnist/",
             "http://yann.lecun.com/exdb/mnist/"),
    classes=tuple(str(d) for d in range(10)),
    image_shape=(1, 28, 28),
    train_size=60_000,
    test_size=10_000,
    homepage="http://yann.lecun.com/exdb/mnist/",
)

DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        MNIST,
        # MNIST's files and counts: a folder of 10,000 training digits is then "MNIST 10k subset (...)".
        replace(MNIST, name="mnist-10k", mirrors=(), subset_of="mnist", subset_size=10_000),
        DatasetInfo(
            name="fashion-mnist",
            title="Fashion-MNIST",
            format="idx",
            files=_idx_files(("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
                              "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310")),
            mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                     "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
            classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                     "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
            image_shape=(1, 28, 28),
            train_size=60_000,
            test_size=10_000,
            homepage="https://github.com/zalandoresearch/fashion-mnist",
        ),
        DatasetInfo(
            name="kmnist",
            title="Kuzushiji-MNIST",
            format="idx",
            files=_idx_files(("bdb82020997e1d708af4cf47b453dcf7", "e144d726b3acfaa3e44228e80efcd344",
                              "5c965bf0a639b31b8f53240b1b52f4d7", "7320c461ea6c1c855c0b718fb2a4b134")),
            mirrors=("https://codh.rois.ac.jp/kmnist/dataset/kmnist/",
                     "http://codh.rois.ac.jp/kmnist/dataset/kmnist/"),
            classes=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
            image_shape=(1, 28, 28),
            train_size=60_000,
            test_size=10_000,
            homepage="https://github.com/rois-codh/kmnist",
        ),
        DatasetInfo(
            name="cifar-10",
            title="CIFAR-10",
            format="cifar-binary",
            files=(RemoteFile("cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530",
                              "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
                              local_names=("cifar-10-batches-bin",)),),
            mirrors=("https://www.cs.toronto.edu/~kriz/", "https://cave.cs.toronto.edu/kriz/"),
            classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
            image_shape=(3, 32, 32),
            train_size=50_000,
            test_size=10_000,
            homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
        ),
    )
}


def canonical(name: str) -> str:
    """The registry's spelling of a dataset name, matched case-insensitively (``Fashion-MNIST`` ->
    ``fashion-mnist``); ValueError listing the known names, and the closest, if unknown."""
    for known in DATASETS:
        if known == name.lower():
            return known
    raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}{did_you_mean(name, DATASETS)}")


def info(name: str) -> DatasetInfo:
    """The registry entry for ``name`` (any case), or a ValueError listing the known names."""
    return DATASETS[canonical(name)]


def subsets_of(name: str) -> list[DatasetInfo]:
    """The registered subsets of the dataset ``name`` (``mnist`` -> ``mnist-10k``)."""
    return [entry for entry in DATASETS.values() if entry.subset_of == name]
