"""IDX files (the MNIST family's format), gzip-compressed or raw, of any size.

Layout (big-endian): two zero bytes, a type code (0x08 = unsigned byte), the number of
dimensions d, then d uint32 sizes, then the values row-major. Images are d = 3
(N, H, W); labels d = 1 (N,). Every way a file can be wrong raises DatasetFileError
naming the file and the problem.
"""
from __future__ import annotations

import contextlib
import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from .errors import DatasetFileError, file_problem

_GZIP_MAGIC = b"\x1f\x8b"
_UBYTE = 0x08


MAX_EXPANSION = 200  # a gzip may hold at most 200x its size (MNIST's hold ~5x; bombs ~1000x)
_CHUNK = 1 << 20


@contextlib.contextmanager
def _open_idx(path: Path):
    """The file's byte stream, decompressing it if it is gzip (told by its first bytes, not
    its name), and its compressed size (None for a raw file); gzip errors -> DatasetFileError."""
    problem = file_problem(path)
    if problem:
        raise DatasetFileError(f"{path} {problem}; expected an IDX file")
    try:
        with open(path, "rb") as raw:
            if raw.read(2) != _GZIP_MAGIC:
                raw.seek(0)
                yield raw, None
                return
            raw.seek(0)
            with gzip.GzipFile(fileobj=raw) as stream:
                yield stream, os.fstat(raw.fileno()).st_size
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise DatasetFileError(f"{path}: corrupt or truncated gzip data ({err}); delete it and download it again") from None
    except MemoryError:
        raise DatasetFileError(f"{path}: too large for the memory free on this computer") from None


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
    """A uint8 array with the file's dimensions; ``ndim`` is what the caller expects (1 or 3).

    The header is checked before anything it declares is allocated: against the file's size
    (raw) or MAX_EXPANSION times it (gzip), and gzip data is decompressed as a stream that
    stops one byte after the size the header declares.
    """
    path = Path(path)
    with _open_idx(path) as (stream, packed_size):
        head = stream.read(4)
        head += stream.read(4 * _check_magic(head, path))
        dims, offset = read_header(head, path)
        if len(dims) != ndim:
            raise DatasetFileError(f"{path}: has {len(dims)} dimensions {dims}, expected {ndim}")
        expected = offset + int(np.prod(dims, dtype=object))
        limit = os.stat(path).st_size if packed_size is None else MAX_EXPANSION * packed_size + _CHUNK
        if expected > limit:
            raise DatasetFileError(f"{path}: truncated or corrupt: header says {dims} ({expected} bytes in all) "
                                   f"but the file {'has' if packed_size is None else 'can hold at most'} {limit} bytes")
        values = np.empty(expected - offset, dtype=np.uint8)
        got = offset + _read_into(stream, memoryview(values))
        extra = len(stream.read(1))
    if got != expected or extra:
        problem = "truncated" if got < expected else "has trailing bytes"
        size = f"{got} bytes" if got < expected else "more bytes"
        raise DatasetFileError(f"{path}: {problem}: header says {dims} ({expected} bytes in all) but the file has {size}")
    return values.reshape(dims)


def _read_into(stream, view: memoryview) -> int:
    """Fill ``view`` from ``stream`` in chunks; the number of bytes read (fewer at end of file)."""
    filled = 0
    while filled < len(view):
        n = stream.readinto(view[filled:filled + _CHUNK])
        if not n:
            break
        filled += n
    return filled


def read_idx_count(path: str | Path) -> int:
    """The number of items (the first dimension) of an IDX file, reading only its header and
    checking the size it declares against the file's (a raw file's size, a gzip's ISIZE trailer:
    the uncompressed size modulo 2³²), so a header claiming 10⁹ images is caught in a listing."""
    path = Path(path)
    with _open_idx(path) as (stream, packed_size):
        head = stream.read(4)
        if _check_magic(head, path) == 0:
            return 0
        dims, _ = read_header(head + stream.read(4 * head[3]), path)
    declared = 4 + 4 * len(dims) + int(np.prod(dims, dtype=object))
    if packed_size is None:
        actual = os.stat(path).st_size
    else:
        with open(path, "rb") as raw:
            raw.seek(-4, os.SEEK_END)
            actual, declared = int.from_bytes(raw.read(4), "little"), declared % (1 << 32)
    if actual != declared:
        raise DatasetFileError(f"{path}: truncated or corrupt: its header says {dims}, which does not match "
                               "the size of the file; delete it and download it again")
    return dims[0]


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
