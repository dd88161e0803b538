"""Resizing (``torch.nn.Upsample``) of (N, C, H, W) inputs: ``mode="nearest"`` and ``"bilinear"``.

Nearest: output row i copies input row r(i) = min(floor(i · scale), H - 1), with scale =
1 / scale_factor when ``scale_factor`` is given (as torch computes it, in float32) and H / Ho when
``size`` is; columns alike. So y = x[:, :, r][:, :, :, c] and, since r and c never decrease,
backward adds up the gradients of the output rows (then columns) that copied the same input row:

    dL/dx[:, :, h, w] = Σ_{i: r(i) = h} Σ_{j: c(j) = w} g[:, :, i, j]     (0 for rows nobody copied)

Bilinear: output row i reads the real source position s(i) = i · (H - 1) / (Ho - 1) with
``align_corners=True`` (0 when Ho = 1), else s(i) = max(0, (i + 0.5) · scale - 0.5), and mixes
the two rows around it: h0 = min(floor(s), H - 1), h1 = min(h0 + 1, H - 1), λ = s - h0,
row i = (1 - λ) · x[h0] + λ · x[h1] (torch's rule, UpSample.h; Ho = H copies). Columns alike.
Each axis is thus a matrix R (Ho × H) with two nonzeros per row, and the resize is separable:

    y = R_h · x · R_wᵀ          (per sample and channel: (Ho × H)(H × W)(W × Wo))
    dL/dx = R_hᵀ · g · R_w
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


def linear_weights(size: int, out: int, scale_factor: float | None, align_corners: bool, dtype) -> np.ndarray:
    """R (out × size): row i holds bilinear interpolation's two weights (1 - λ, λ) of output i
    along an axis of ``size`` inputs, by torch's rule (module docstring), computed in ``dtype``."""
    real = np.dtype(dtype).type  # torch computes the source positions in the input's precision
    one = real(1)
    if out == size:
        return np.eye(size, dtype=dtype)
    i = np.arange(out, dtype=dtype)
    if align_corners:
        source = i * ((size - 1) / real(out - 1) if out > 1 else 0 * one)
    else:
        scale = real(1 / scale_factor) if scale_factor is not None else size / real(out)
        source = np.maximum(scale * (i + one / 2) - one / 2, 0)
    low = np.minimum(np.floor(source).astype(np.int64), size - 1)
    high = np.minimum(low + 1, size - 1)
    share = np.clip(source - low, 0, 1).astype(dtype)
    weights = np.zeros((out, size), dtype=dtype)
    np.add.at(weights, (np.arange(out), low), one - share)
    np.add.at(weights, (np.arange(out), high), share)
    return weights


MODES = ("nearest", "bilinear")


class Upsample(Module):
    """``torch.nn.Upsample``: (N, C, H, W) -> (N, C, Ho, Wo), ``mode="nearest"`` or ``"bilinear"``.

    Give ``size`` (Ho, Wo) or ``scale_factor`` (Ho = floor(H · scale_factor)), ints or pairs.
    ``align_corners`` (bilinear only, default False) maps the corner pixels' centres onto each
    other, as in torch. See the module docstring for the math.
    """

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest", align_corners: bool | None = None):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"Upsample: mode must be one of {', '.join(MODES)}, got mode={mode!r}")
        if mode == "nearest" and align_corners is not None:
            raise ValueError("Upsample: align_corners can only be set with mode='bilinear' (as in torch)")
        if (size is None) == (scale_factor is None):
            raise ValueError("Upsample needs exactly one of size and scale_factor, e.g. Upsample(scale_factor=2)")
        self.size = _size_pair(size, "size", (int, np.integer))
        self.scale_factor = _size_pair(scale_factor, "scale_factor", (int, float, np.integer, np.floating))
        self.mode = mode
        self.align_corners = None if align_corners is None else bool(align_corners)
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
        self._state = x.shape if self.keeps_state else None
        if self.mode == "bilinear":
            r_h, r_w = self._weights(*x.shape[2:], x.dtype)
            return np.matmul(r_h, x @ r_w.T)  # R_h · x · R_wᵀ
        rows, cols = self._sources(*x.shape[2:])
        return x[:, :, rows][:, :, :, cols]

    def _weights(self, h: int, w: int, dtype) -> tuple[np.ndarray, np.ndarray]:
        factors = self.scale_factor or (None, None)
        return tuple(linear_weights(size, out, None if f is None else float(f), bool(self.align_corners), dtype)
                     for size, out, f in zip((h, w), self._out_hw(h, w), factors))

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        x_shape = self._saved(self._state)
        h, w = x_shape[2:]
        check_grad_output(self, grad_output, (*x_shape[:2], *self._out_hw(h, w)))
        if self.mode == "bilinear":
            r_h, r_w = self._weights(h, w, grad_output.dtype)
            return np.matmul(r_h.T, grad_output @ r_w)  # R_hᵀ · g · R_w
        rows, cols = self._sources(h, w)
        return _sum_runs(_sum_runs(grad_output, cols, w, axis=3), rows, h, axis=2)

    def extra_repr(self) -> str:
        what = f"size={self.size}" if self.size is not None else f"scale_factor={self.scale_factor}"
        corners = f", align_corners={self.align_corners}" if self.align_corners is not None else ""
        return f"{what}, mode={self.mode!r}{corners}"
