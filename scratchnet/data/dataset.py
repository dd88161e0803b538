"""``load(name)``: a known dataset as uint8 arrays, from the first place that has it, else downloaded."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import locate, registry
from .cifar import DEV_COPY_LABEL, is_dev_copy, read_cifar10, read_cifar10_test, record_counts
from .download import download as download_files
from .errors import DatasetFileError, DatasetNotFoundError, DownloadError
from .idx import read_idx_count, read_images_and_labels
from .prepare import subset


@dataclass(repr=False, eq=False)
class Dataset:
    """A dataset in memory: images uint8 (N, C, H, W), labels int64 (N,).

    ``source`` is the folder it was read from and ``origin`` why that folder was searched
    (e.g. ``"$SCRATCHNET_DATA"``). ``note`` is empty for the complete dataset and
    otherwise says what is missing, e.g. ``"MNIST 10k subset (10,000 of the 60,000
    training images)"``: anything reporting a number from a subset should print it.
    """

    name: str
    classes: list[str]
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    origin: str
    note: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])

    @property
    def is_subset(self) -> bool:
        return bool(self.note)

    def __repr__(self) -> str:
        shape = "×".join(map(str, self.image_shape))
        note = f", note={self.note!r}" if self.note else ""
        return (f"Dataset({self.name!r}, train={len(self.x_train)}, test={len(self.x_test)}, "
                f"image={shape}, source={self.source!r}{note})")


def subset_note(info: registry.DatasetInfo, n_train: int, n_test: int, test_unchecked: bool = False) -> str:
    """Empty for the official sizes, else a human note such as "MNIST 10k subset (…)";
    ``test_unchecked``: say the test set may not be the official one (nothing could check it)."""
    parts = [f"{n:,} of the {full:,} {split} images"
             for n, full, split in ((n_train, info.train_size, "training"), (n_test, info.test_size, "test"))
             if n != full]
    if parts and test_unchecked:
        parts.append(f"the test set may not be {info.title}'s official one")
    if not parts:
        return ""
    size = f"{n_train // 1000}k" if n_train != info.train_size and n_train % 1000 == 0 else "partial"
    return f"{info.title} {size} subset ({'; '.join(parts)})"


def copy_note(info: registry.DatasetInfo, n_train: int, x_test: np.ndarray, y_test: np.ndarray) -> str:
    """The note for a local copy with ``n_train`` training images and this test set: CIFAR-10's
    development copy (recognised by its test set's checksum) gets its required label; other copies
    get ``subset_note``."""
    if info.format == "cifar-binary" and is_dev_copy(x_test, y_test):
        return (f"{DEV_COPY_LABEL}: {n_train:,} of the {info.train_size:,} training images, and "
                f"{len(x_test):,} other training images as the test set, not the official test set")
    return subset_note(info, n_train, len(x_test), test_unchecked=info.format == "cifar-binary")


def local_note(info: registry.DatasetInfo, files: tuple[Path, ...], n_train: int, n_test: int) -> str:
    """``copy_note`` for a local copy not yet loaded (for listings): only a subset's test set is read."""
    if info.format != "cifar-binary" or (n_train, n_test) == (info.train_size, info.test_size):
        return subset_note(info, n_train, n_test)
    return copy_note(info, n_train, *read_cifar10_test(files[0]))


def read_arrays(info: registry.DatasetInfo, files: tuple[Path, ...]):
    """(x_train, y_train, x_test, y_test) from a dataset's local files, checked against the registry."""
    if info.format == "cifar-binary":
        arrays = read_cifar10(files[0])
        image_files = (files[0], files[0])
    else:
        arrays = (*read_images_and_labels(files[0], files[1], len(info.classes)),
                  *read_images_and_labels(files[2], files[3], len(info.classes)))
        image_files = (files[0], files[2])
    for x, path in zip((arrays[0], arrays[2]), image_files):
        if len(x) == 0:
            raise DatasetFileError(f"{path}: holds no images; delete it and download {info.name} again")
        if x.shape[1:] != info.image_shape:
            raise DatasetFileError(f"{path}: images are {x.shape[1:]}, but {info.name} images are {info.image_shape}")
    return arrays


def local_sizes(info: registry.DatasetInfo, files: tuple[Path, ...]) -> tuple[int, int]:
    """(train, test) counts of a local copy from its headers only (fast: for listings)."""
    if info.format == "cifar-binary":
        return record_counts(files[0])
    return read_idx_count(files[0]), read_idx_count(files[2])


def not_found_message(info: registry.DatasetInfo, looked: list[str], failure: Exception | None) -> str:
    """Every place looked, why the download failed, and how to provide the files by hand."""
    lines = [f"dataset {info.name!r} was not found locally" + (" and could not be downloaded." if failure else ".")]
    lines += ["Looked in:"] + [f"  {place}" for place in looked]
    if failure is not None:
        lines += ["Download:", f"  {failure}"]
    names = ", ".join(remote.name for remote in info.files)
    lines += [
        "To provide it: download " + names + f" (from {info.mirrors[0]} or {info.homepage})",
        f"  into {locate.cache_dir(info.name)}, or into $SCRATCHNET_DATA/{info.name}, or a folder passed as root "
        f"(--root DIR); or, when online, run `scratchnet datasets download {info.name}`.",
    ]
    for subset in registry.subsets_of(info.name):
        found, _ = locate.find(subset, None)
        if found is not None:
            lines.append(f"A subset is here, usable offline: {found.describe()}: --dataset {subset.name}.")
    return "\n".join(lines)


def load(name: str, root: str | Path | None = None, download: bool = True, progress: bool = True) -> Dataset:
    """The dataset ``name`` (one of ``DATASETS``), searched as ``locate`` describes, else downloaded.

    A download goes into ``root`` when given, else into the user cache. With
    ``progress`` a line on stderr says which folder was used (and a progress bar shows
    downloads). Raises DatasetNotFoundError when it is nowhere and cannot be fetched,
    DatasetFileError when a file is broken.
    """
    info = registry.info(name)
    name = info.name
    location, looked = locate.find(info, root)
    if location is None and info.subset_of:
        return _drawn_subset(info, root, download, progress)
    if location is None:
        if not download:
            raise DatasetNotFoundError(not_found_message(info, looked, None))
        dest = Path(root) if root is not None else locate.cache_dir(name)
        try:
            download_files(info, dest, progress)
        except DownloadError as err:
            raise DatasetNotFoundError(not_found_message(info, looked, err)) from None
        location = locate.Location(dest, "downloaded", tuple(dest / remote.name for remote in info.files))
    x_train, y_train, x_test, y_test = read_arrays(info, location.files)
    note = copy_note(info, len(x_train), x_test, y_test)
    if progress:
        print(f"scratchnet: {name} from {location.describe()}" + (f": {note}" if note else ""), file=sys.stderr)
    return Dataset(name, list(info.classes), x_train, y_train, x_test, y_test,
                   source=str(location.folder), origin=location.origin, note=note)


def _drawn_subset(info: registry.DatasetInfo, root, download: bool, progress: bool) -> Dataset:
    """A registered subset without a folder of its own: ``subset_size`` training images drawn with
    seed 0 (class proportions kept) from the full dataset, which is found or downloaded."""
    full = load(info.subset_of, root=root, download=download, progress=progress)
    x_train, y_train = subset(full.x_train, full.y_train, info.subset_size, seed=0)
    note = (subset_note(info, len(x_train), len(full.x_test)) +
            f"; drawn with seed 0 from {full.name} in {full.source}, as no {info.name} folder was found")
    if progress:
        print(f"scratchnet: {info.name}: {note}", file=sys.stderr)
    return Dataset(info.name, list(info.classes), x_train, y_train, full.x_test, full.y_test,
                   source=full.source, origin=f"drawn from {full.name} ({full.origin})", note=note)
