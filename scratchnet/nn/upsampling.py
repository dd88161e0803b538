"""Nearest-neighbour resizing (``torch.nn.Upsample(mode="nearest")``) of (N, C, H, W) inputs.

Output row i copies input row r(i) = min(floor(i · scale), H - 1), with scale = 1 / scale_factor
when ``scale_factor`` is given (as torch computes it, in float32) and H / Ho when ``size`` is;
columns alike. So y = x[:, :, r][:, :, :, c] and, since r and c never decrease, backward adds up
the gradients of the output rows (then columns) that copied the same input row (column):

    dL/dx[:, :, h, w] = Σ_{i: r(i) = h} Σ_{j: c(j) = w} g[:, :, i, j]     (0 for rows nobody copied)
"""
from __future__ import annotations

import math

import numpy as np

from ._utils import check_array, check_float_dtype, check_grad_output
from .module import Module


def _size_pair(value, name: str, kind) -> tuple | None:
    """None, or a positive number (int for ``size``) or a pair of them."""
    if value is None:
        return None
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    ok = len(pair) == 2 and all(isinstance(v, kind) and not isinstance(v, bool) and v > 0 for v in pair)
    if not ok:
        raise ValueError(f"Upsample: {name} must be a positive number or a pair of them, got {value!r}")
    return pair


def nearest_sources(size: int, out: int, scale_factor: float | None) -> np.ndarray:
    """The input index each of ``out`` outputs copies along an axis of ``size`` inputs (non-decreasing)."""
    scale = np.float32(1 / scale_factor) if scale_factor is not None else np.float32(size / out)
    return np.minimum(np.floor(np.arange(out, dtype=np.float32) * scale).astype(np.int64), size - 1)


def _sum_runs(g: np.ndarray, sources: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Σ of g's slices along ``axis`` that share a source index, placed at that index (length ``size``)."""
    starts = np.flatnonzero(np.r_[True, sources[1:] != sources[:-1]])
    shape = list(g.shape)
    shape[axis] = size
    out = np.zeros(shape, dtype=g.dtype)
    index = [slice(None)] * g.ndim
    index[axis] = sources[starts]
    out[tuple(index)] = np.add.reduceat(g, starts, axis=axis)
    return out


class Upsample(Module):
    """``torch.nn.Upsample`` with ``mode="nearest"``: (N, C, H, W) -> (N, C, Ho, Wo).

    Give ``size`` (Ho, Wo) or ``scale_factor`` (Ho = floor(H · scale_factor)), ints or pairs.
    """

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest"):
        super().__init__()
        if mode != "nearest":
            raise ValueError(f"Upsample: only mode='nearest' is implemented, got mode={mode!r}")
        if (size is None) == (scale_factor is None):
            raise ValueError("Upsample needs exactly one of size and scale_factor, e.g. Upsample(scale_factor=2)")
        self.size = _size_pair(size, "size", (int, np.integer))
        self.scale_factor = _size_pair(scale_factor, "scale_factor", (int, float, np.integer, np.floating))
        self.mode = mode
        self._state = None

    def _out_hw(self, h: int, w: int) -> tuple[int, int]:
        if self.size is not None:
            return tuple(int(v) for v in self.size)
        return tuple(int(math.floor(size * float(f))) for size, f in zip((h, w), self.scale_factor))

    def _sources(self, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
        factors = self.scale_factor or (None, None)
        return tuple(nearest_sources(size, out, None if f is None else float(f))
                     for size, out, f in zip((h, w), self._out_hw(h, w), factors))

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array(self, x)
        if x.ndim != 4:
            raise ValueError(f"{self!r}: expected input of shape (N, C, H, W), got {x.shape}")
        check_float_dtype(self, x)
        ho, wo = self._out_hw(*x.shape[2:])
        if ho < 1 or wo < 1:
            raise ValueError(f"{self!r}: input of shape {x.shape} gives an empty {ho}x{wo} output")
        rows, cols = self._sources(*x.shape[2:])
        self._state = x.shape if self.training else None
        return x[:, :, rows][:, :, :, cols]

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        x_shape = self._saved(self._state)
        h, w = x_shape[2:]
        check_grad_output(self, grad_output, (*x_shape[:2], *self._out_hw(h, w)))
        rows, cols = self._sources(h, w)
        return _sum_runs(_sum_runs(grad_output, cols, w, axis=3), rows, h, axis=2)

    def extra_repr(self) -> str:
        what = f"size={self.size}" if self.size is not None else f"scale_factor={self.scale_factor}"
        return f"{what}, mode={self.mode!r}"
