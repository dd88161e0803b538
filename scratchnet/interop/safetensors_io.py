"""``.safetensors`` files: a ``state_dict`` under PyTorch's keys, with string metadata.

The format (https://github.com/huggingface/safetensors) is an 8-byte little-endian header
length, a JSON header naming each tensor's dtype, shape and byte range, then the raw bytes:
no pickle, nothing to execute. A file written here loads in PyTorch with
``safetensors.torch.load_file(path)`` into the ``torch.nn`` model of the same architecture
(``model.load_state_dict(...)``); its metadata holds ``format: pt`` (what Hugging Face tools
expect), ``scratchnet_model`` (the model file's metadata as JSON: spec, classes,
preprocessing, input shape, dataset) and ``classes`` (a JSON list).

Before the ``safetensors`` package reads a file, the header's declared length is checked
against the file's size, so a corrupted length is refused before anything is allocated.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from . import require

MAX_HEADER_BYTES = 100 * 2 ** 20  # the safetensors package's own limit on the JSON header


def save(path: str | Path, state: dict[str, np.ndarray], metadata: dict | None = None) -> None:
    """Write ``state`` (key -> array) to ``path`` with ``metadata`` (JSON-able values, stored as JSON
    text except strings) beside ``format: pt``."""
    numpy_io = require("safetensors.numpy")
    tensors = {key: np.asarray(value, order="C") for key, value in state.items()}  # 0-d stays 0-d
    text = {"format": "pt"}
    for key, value in (metadata or {}).items():
        text[key] = value if isinstance(value, str) else json.dumps(value)
    numpy_io.save_file(tensors, str(path), metadata=text)


def check_header(path: Path) -> None:
    """Refuse a file whose declared header does not fit in it."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
    if len(head) < 8:
        raise ValueError(f"{path} is not a safetensors file: it is {size} bytes, shorter than the 8-byte header length")
    (length,) = struct.unpack("<Q", head)
    if length > min(size - 8, MAX_HEADER_BYTES):
        raise ValueError(f"{path} is not a valid safetensors file: it declares a {length:,}-byte header but holds "
                         f"{size - 8:,} bytes after the length")


def _open(path: Path):
    """``safetensors.safe_open`` on a checked file (the package validates every tensor's byte range)."""
    safetensors = require("safetensors")
    if not path.is_file():
        raise ValueError(f"{path} does not exist (expected a .safetensors weights file)")
    check_header(path)
    return safetensors.safe_open(str(path), framework="numpy")


def _reading(path: Path, work):
    try:
        with _open(path) as f:
            return work(f)
    except (ValueError, OSError):
        raise
    except Exception as err:  # the package raises SafetensorError for malformed headers and ranges
        raise ValueError(f"{path} is not a valid safetensors file: {err}") from None


def declared_shapes(path: str | Path) -> dict[str, tuple[int, ...]]:
    """The shape of each tensor, from the header alone."""
    return _reading(Path(path), lambda f: {key: tuple(f.get_slice(key).get_shape()) for key in f.keys()})


def read_tensors(path: str | Path, keys: list[str]) -> dict[str, np.ndarray]:
    """The tensors named ``keys``."""
    return _reading(Path(path), lambda f: {key: f.get_tensor(key) for key in keys})


def read(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """``(state, metadata)`` of a safetensors file: arrays by key, and the string metadata."""
    return _reading(Path(path), lambda f: ({key: f.get_tensor(key) for key in f.keys()}, dict(f.metadata() or {})))
