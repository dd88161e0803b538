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


def load_npz(path: str | Path, expected: str) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` archive at ``path``, or a ValueError saying what the file is
    and that ``expected`` (e.g. "a scratchnet model file (model.npz)") was wanted."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path} does not exist; expected {expected}")
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic == b"\x93NUMPY":
        raise ValueError(f"{path} is a single NumPy array (.npy), not {expected}")
    if not magic.startswith(b"PK"):
        raise ValueError(f"{path} is not a NumPy .npz archive (it starts with {magic!r}); expected {expected}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as err:
        raise ValueError(f"{path} is corrupted or truncated ({err}); expected {expected}") from None
    except ValueError as err:
        if "allow_pickle" in str(err):
            raise ValueError(f"{path} holds pickled objects, which scratchnet never loads; "
                             f"expected {expected}") from None
        raise ValueError(f"{path} is corrupted ({err}); expected {expected}") from None
