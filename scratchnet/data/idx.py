"""IDX files (the MNIST family's format), gzip-compressed or raw, of any size.

Layout (big-endian): two zero bytes, a type code (0x08 = unsigned byte), the number of
dimensions d, then d uint32 sizes, then the values row-major. Images are d = 3
(N, H, W); labels d = 1 (N,). Every way a file can be wrong raises DatasetFileError
naming the file and the problem.
"""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from .errors import DatasetFileError

_GZIP_MAGIC = b"\x1f\x8b"
_UBYTE = 0x08


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, decompressed if it is gzip (told by its first bytes, not its name)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        return gzip.decompress(raw) if raw[:2] == _GZIP_MAGIC else raw
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise DatasetFileError(f"{path}: corrupt or truncated gzip data ({err}); delete it and download it again") from None


def _check_magic(data: bytes, path: Path) -> int:
    """The number of dimensions, after checking the magic number and type code."""
    if len(data) < 4 or data[:2] != b"\x00\x00":
        raise DatasetFileError(f"{path}: not an IDX file (bad magic number {data[:4].hex() or 'empty file'})")
    if data[2] != _UBYTE:
        raise DatasetFileError(f"{path}: IDX type code 0x{data[2]:02x} is not supported (only 0x08, unsigned bytes)")
    return data[3]


def read_header(data: bytes, path: Path) -> tuple[tuple[int, ...], int]:
    """The dimensions stored in an IDX header and the offset where the values start."""
    ndim = _check_magic(data, path)
    offset = 4 + 4 * ndim
    if len(data) < offset:
        raise DatasetFileError(f"{path}: truncated IDX header ({len(data)} bytes, needs {offset})")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    return dims, offset


def read_idx(path: str | Path, ndim: int) -> np.ndarray:
    """A uint8 array with the file's dimensions; ``ndim`` is what the caller expects (1 or 3)."""
    path = Path(path)
    data = _read_bytes(path)
    dims, offset = read_header(data, path)
    if len(dims) != ndim:
        raise DatasetFileError(f"{path}: has {len(dims)} dimensions {dims}, expected {ndim}")
    expected = offset + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else "has trailing bytes"
        raise DatasetFileError(
            f"{path}: {problem}: header says {dims} ({expected} bytes in all) but the file has {len(data)} bytes"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(dims)


def read_idx_count(path: str | Path) -> int:
    """The number of items (the first dimension) of an IDX file, reading only its first 8 bytes."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            gzipped = f.read(2) == _GZIP_MAGIC
        with (gzip.open if gzipped else open)(path, "rb") as f:
            head = f.read(8)
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise DatasetFileError(f"{path}: corrupt gzip data ({err})") from None
    if _check_magic(head, path) == 0:
        return 0
    if len(head) < 8:
        raise DatasetFileError(f"{path}: truncated IDX header ({len(head)} bytes)")
    return int.from_bytes(head[4:8], "big")


def read_images_and_labels(images: Path, labels: Path, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 1, H, W) uint8 and labels (N,) int64 from a pair of IDX files, checked to agree."""
    x = read_idx(images, ndim=3)
    y = read_idx(labels, ndim=1)
    if len(x) != len(y):
        raise DatasetFileError(f"{images} has {len(x)} images but {labels} has {len(y)} labels; one of them is wrong")
    if y.size and int(y.max()) >= num_classes:
        raise DatasetFileError(f"{labels}: label {int(y.max())} is out of range for {num_classes} classes")
    return x[:, None, :, :].copy(), y.astype(np.int64)


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Save a uint8 array (e.g. your own images (N, H, W) or labels (N,)) as an IDX file.

    Gzip-compressed when the name ends in ``.gz``, as the published MNIST files are.
    """
    path = Path(path)
    array = np.ascontiguousarray(array)
    if array.dtype != np.uint8:
        raise ValueError(f"write_idx stores unsigned bytes only, got dtype {array.dtype}")
    data = bytes([0, 0, _UBYTE, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes() + array.tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path
