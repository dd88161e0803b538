"""NumPy ``.npz`` archives holding arrays plus JSON, written atomically, read without pickle.

Model files and checkpoints are ``.npz`` archives: their arrays under their own names and
their metadata as UTF-8 JSON bytes in a uint8 array, so ``numpy.load(path,
allow_pickle=False)`` reads every part of them and nothing in them can run code.
"""
from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..data.errors import file_problem
from .runfiles import atomic_file


def json_to_array(value) -> np.ndarray:
    """``value`` as UTF-8 JSON bytes in a uint8 array."""
    return np.frombuffer(json.dumps(value).encode("utf-8"), dtype=np.uint8)


def array_to_json(array: np.ndarray):
    """The inverse of ``json_to_array``."""
    return json.loads(np.asarray(array, dtype=np.uint8).tobytes().decode("utf-8"))


def save_npz(path: str | Path, arrays: dict[str, np.ndarray], compress: bool = False) -> None:
    """Write ``arrays`` to ``path`` atomically."""
    with atomic_file(path) as f:
        (np.savez_compressed if compress else np.savez)(f, **arrays)


MAX_EXPANSION = 100  # a compressed member may expand to 100x its size (plus MIN_BOMB_BYTES), no more
MIN_BOMB_BYTES = 1 << 20


def load_npz(path: str | Path, expected: str, names=None,
             shapes: dict[str, tuple[int, ...]] | None = None) -> dict[str, np.ndarray]:
    """The arrays of the ``.npz`` archive at ``path`` (those in ``names``, or all), or a
    ValueError saying what the file is and that ``expected`` (e.g. "a scratchnet model file
    (model.npz)") was wanted.

    Nothing a file declares is allocated before it is checked: each member's ``.npy`` header
    is read through ``zipfile`` first, its size must agree with the bytes the member holds
    (compressed members may expand at most MAX_EXPANSION times: no zip bombs), object arrays
    (pickles) are refused, and a member named in ``shapes`` must have that shape.
    """
    path = Path(path)
    problem = file_problem(path)
    if problem:
        raise ValueError(f"{path} {problem}; expected {expected}")
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic == b"\x93NUMPY":
        raise ValueError(f"{path} is a single NumPy array (.npy), not {expected}")
    if not magic.startswith(b"PK"):
        raise ValueError(f"{path} is not a NumPy .npz archive (it starts with {magic!r}); expected {expected}")
    try:
        with zipfile.ZipFile(path) as archive:
            members = [info for info in archive.infolist() if info.filename.endswith(".npy")]
            wanted = [info for info in members if names is None or info.filename[:-4] in names]
            return {info.filename[:-4]: _read_member(archive, info, path, expected, shapes or {}) for info in wanted}
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as err:
        raise ValueError(f"{path} is corrupted or truncated ({err}); expected {expected}") from None
    except MemoryError:
        raise ValueError(f"{path} needs more memory than is free to load; expected {expected} "
                         "that fits this computer") from None


def npz_shapes(path: str | Path, expected: str) -> dict[str, tuple[int, ...]]:
    """The shape of every array in a ``.npz`` archive, from the ``.npy`` headers alone (no data is read)."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            shapes = {}
            for info in archive.infolist():
                if info.filename.endswith(".npy"):
                    with archive.open(info) as member:
                        shapes[info.filename[:-4]] = tuple(_header(member, info.filename[:-4], path, expected)[0])
            return shapes
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as err:
        raise ValueError(f"{path} is not a readable .npz archive ({err}); expected {expected}") from None


def npz_names(path: str | Path) -> list[str]:
    """The names of the arrays in a ``.npz`` archive that ``load_npz`` has accepted."""
    with zipfile.ZipFile(path) as archive:
        return [name[:-4] for name in archive.namelist() if name.endswith(".npy")]


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, expected: str,
                 shapes: dict[str, tuple[int, ...]]) -> np.ndarray:
    """One member's array, after checking its header against its size and ``shapes``."""
    name = info.filename[:-4]
    if info.compress_type != zipfile.ZIP_STORED and info.file_size > MIN_BOMB_BYTES + MAX_EXPANSION * info.compress_size:
        raise ValueError(f"{path}: entry {name!r} claims to expand from {info.compress_size} to {info.file_size} bytes: "
                         f"a zip bomb, not {expected}")
    with archive.open(info) as member:
        shape, fortran_order, dtype = _header(member, name, path, expected)
        if name in shapes and tuple(shapes[name]) != tuple(shape):
            raise ValueError(f"{path} is corrupted: entry {name!r} has shape {tuple(shape)} but the model's spec implies {tuple(shapes[name])}: "
                             f"the weights do not match the architecture; expected {expected}")
        nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if nbytes != info.file_size - member.tell():
            raise ValueError(f"{path} is corrupted: entry {name!r} declares {nbytes} bytes of data but the entry holds "
                             f"{info.file_size - member.tell()}; expected {expected}")
        buffer = bytearray(nbytes)
        if member.readinto(memoryview(buffer)) != nbytes:
            raise ValueError(f"{path} is corrupted: entry {name!r} is truncated; expected {expected}")
    return np.ndarray(shape, dtype=dtype, buffer=buffer, order="F" if fortran_order else "C")


def _header(member, name: str, path: Path, expected: str) -> tuple:
    """(shape, fortran_order, dtype) of an open ``.npy`` member; object arrays (pickles) are refused."""
    try:
        version = np.lib.format.read_magic(member)
        header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = header(member)
    except ValueError as err:
        raise ValueError(f"{path} is corrupted: entry {name!r} has a bad .npy header ({err}); expected {expected}") from None
    if dtype.hasobject:
        raise ValueError(f"{path} holds pickled objects, which scratchnet never loads (entry {name!r}); expected {expected}")
    return shape, fortran_order, dtype
