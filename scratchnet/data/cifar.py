"""CIFAR-10's binary version: ``cifar-10-binary.tar.gz`` or its extracted ``cifar-10-batches-bin``.

Each of ``data_batch_1.bin`` … ``data_batch_5.bin`` (training) and ``test_batch.bin`` is a
sequence of 3073-byte records: one label byte (0-9), then 3072 pixel bytes, the red,
green and blue 32×32 planes row-major, which is already the (C, H, W) layout. The archive
is read in place with ``tarfile`` (nothing is extracted) and never unpickled: the python
version of CIFAR-10 is a pickle and is not supported on purpose.
"""
from __future__ import annotations

import hashlib
import tarfile
import zlib
from pathlib import Path

import numpy as np

from .errors import DatasetFileError, file_problem

ARCHIVE = "cifar-10-binary.tar.gz"
FOLDER = "cifar-10-batches-bin"
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILE = "test_batch.bin"
IMAGE_SHAPE = (3, 32, 32)
RECORD_BYTES = 1 + 3 * 32 * 32
NUM_CLASSES = 10
# The development copy (README of /work/shared/datasets/cifar-10): 40,000 training images and a test set
# carved from CIFAR-10's training set, recognised by the sha256 of its test_batch.bin.
DEV_COPY_TEST_SHA256 = "c62ece3610673cc4b4cb6932af0cb172839e67f9598038c2822914597794d872"
DEV_COPY_LABEL = "CIFAR-10 dev copy (test carved from the training set)"
MAX_BATCH_BYTES = 10_000 * RECORD_BYTES  # the published batch files' size; larger ones are refused unread


def _member_bytes(path: Path, wanted: frozenset[str] = frozenset((*TRAIN_FILES, TEST_FILE))) -> dict[str, bytes]:
    """The bytes of each ``wanted`` batch file, by base name, from the archive or the extracted folder;
    each checked to be a regular file of at most MAX_BATCH_BYTES before it is read."""
    if path.is_dir():
        files = {name: path / name for name in wanted if (path / name).is_file()}
        for name, file in files.items():
            _check_size(file.stat().st_size, f"{path}:{name}")
        found = {name: file.read_bytes() for name, file in files.items()}
    else:
        _check_regular(path)
        try:
            with tarfile.open(path, "r:gz") as tar:
                members = [m for m in tar.getmembers() if m.isfile() and Path(m.name).name in wanted]
                for member in members:
                    _check_size(member.size, f"{path}:{member.name}")
                found = {Path(m.name).name: tar.extractfile(m).read() for m in members}
        except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
            raise DatasetFileError(f"{path}: corrupt or truncated archive ({err}); delete it and download it again") from None
    missing = sorted(wanted - set(found))
    if missing:
        raise DatasetFileError(f"{path}: not CIFAR-10's binary version, missing {', '.join(missing)}")
    return found


def _check_regular(path: Path) -> None:
    problem = file_problem(path)
    if problem:
        raise DatasetFileError(f"{path} {problem}; expected {ARCHIVE} or its extracted {FOLDER}")


def _check_size(size: int, where: str) -> None:
    if size > MAX_BATCH_BYTES:
        raise DatasetFileError(f"{where}: {size} bytes, more than a CIFAR-10 batch file holds "
                               f"({MAX_BATCH_BYTES}: 10,000 records); the file is corrupt or not CIFAR-10")


def _records(data: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) uint8 and labels (N,) int64 from one batch file's bytes."""
    if not data or len(data) % RECORD_BYTES:
        raise DatasetFileError(
            f"{where}: {len(data)} bytes is not a whole number of {RECORD_BYTES}-byte records (truncated or corrupt)"
        )
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, RECORD_BYTES)
    labels = records[:, 0].astype(np.int64)
    if labels.max() >= NUM_CLASSES:
        raise DatasetFileError(f"{where}: label {labels.max()} is out of range for {NUM_CLASSES} classes")
    return records[:, 1:].reshape(-1, *IMAGE_SHAPE), labels


def read_cifar10(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test) from the binary archive or its extracted folder."""
    path = Path(path)
    try:
        files = _member_bytes(path)
        train = [_records(files[name], f"{path}:{name}") for name in TRAIN_FILES]
        x_test, y_test = _records(files[TEST_FILE], f"{path}:{TEST_FILE}")
        x_train = np.concatenate([x for x, _ in train])
        y_train = np.concatenate([y for _, y in train])
    except MemoryError:
        raise DatasetFileError(f"{path}: too large for the memory free on this computer") from None
    return x_train, y_train, x_test.copy(), y_test


def read_cifar10_test(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(x_test, y_test) alone from the binary archive or its extracted folder."""
    path = Path(path)
    x_test, y_test = _records(_member_bytes(path, frozenset({TEST_FILE}))[TEST_FILE], f"{path}:{TEST_FILE}")
    return x_test.copy(), y_test


def is_dev_copy(x_test: np.ndarray, y_test: np.ndarray) -> bool:
    """Whether test images (N, 3, 32, 32) uint8 and labels (N,) are the development copy's test set:
    the sha256 of the records they make (label byte, then the pixels) is that of its test_batch.bin."""
    if x_test.shape[1:] != IMAGE_SHAPE or len(x_test) != len(y_test):
        return False
    records = np.concatenate([y_test.astype(np.uint8)[:, None], x_test.reshape(len(x_test), -1)], axis=1)
    return hashlib.sha256(np.ascontiguousarray(records).tobytes()).hexdigest() == DEV_COPY_TEST_SHA256


def record_counts(path: str | Path) -> tuple[int, int]:
    """(train, test) image counts from the batch files' sizes, without reading the pixels."""
    path = Path(path)
    if path.is_dir():
        sizes = {p.name: p.stat().st_size for p in path.iterdir()}
    else:
        _check_regular(path)
        try:
            with tarfile.open(path, "r:gz") as tar:
                sizes = {Path(m.name).name: m.size for m in tar.getmembers() if m.isfile()}
        except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
            raise DatasetFileError(f"{path}: corrupt or truncated archive ({err})") from None
    for name in (*TRAIN_FILES, TEST_FILE):
        _check_size(sizes.get(name, 0), f"{path}:{name}")
    return sum(sizes.get(name, 0) for name in TRAIN_FILES) // RECORD_BYTES, sizes.get(TEST_FILE, 0) // RECORD_BYTES
