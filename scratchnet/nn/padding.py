"""Zero padding (``torch.nn.ZeroPad2d``) of the last two dimensions, and the backward of padding
with copies of the input's own pixels (``fold_border``, for Conv2d's ``padding_mode``).

With padding (left, right, top, bottom), x (*, H, W) -> y (*, top + H + bottom, left + W + right),
y = 0 except y[..., top:top + H, left:left + W] = x; backward crops: dL/dx = g[..., top:top + H, left:left + W].
"""
from __future__ import annotations

import numpy as np

from ._utils import check_array, check_grad_output
from .module import Module


class ZeroPad2d(Module):
    """``torch.nn.ZeroPad2d``: ``padding`` is an int (all four sides) or (left, right, top, bottom), >= 0."""

    def __init__(self, padding):
        super().__init__()
        sides = (padding,) * 4 if isinstance(padding, (int, np.integer)) else tuple(padding)
        if len(sides) != 4 or not all(isinstance(v, (int, np.integer)) and v >= 0 for v in sides):
            raise ValueError(f"ZeroPad2d: padding must be an int or (left, right, top, bottom) ints >= 0, "
                             f"got {padding!r}")
        self.padding = tuple(int(v) for v in sides)
        self._state = None

    def _interior(self, h: int, w: int) -> tuple:
        left, _, top, _ = self.padding
        return (..., slice(top, top + h), slice(left, left + w))

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array(self, x)
        if x.ndim < 2:
            raise ValueError(f"{self!r}: expected input of shape (*, H, W), got {x.shape}")
        left, right, top, bottom = self.padding
        h, w = x.shape[-2:]
        y = np.zeros_like(x, shape=(*x.shape[:-2], top + h + bottom, left + w + right))
        y[self._interior(h, w)] = x
        self._state = x.shape if self.keeps_state else None
        return y

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        x_shape = self._saved(self._state)
        left, right, top, bottom = self.padding
        h, w = x_shape[-2:]
        check_grad_output(self, grad_output, (*x_shape[:-2], top + h + bottom, left + w + right))
        return grad_output[self._interior(h, w)]

    def extra_repr(self) -> str:
        return f"{self.padding}"


def widest_copied_border(size: int, mode: str) -> int | None:
    """How wide a border np.pad ``mode`` may copy from an axis of ``size`` values, as torch and ONNX
    allow: "reflect" mirrors without the edge (size - 1), "wrap" takes the far side (size), "edge"
    repeats the edge any number of times (None: no limit)."""
    return {"reflect": size - 1, "wrap": size}.get(mode)


def fold_border(grad: np.ndarray, widths, mode: str) -> np.ndarray:
    """dL/dx from dL/dy for y = np.pad(x, widths, mode) with mode "reflect", "edge" or "wrap".

    Each border cell of y is a copy of one pixel of x, so its gradient is added to that pixel;
    along an axis of ``size`` inputs, padded position k copied input np.pad(arange(size), ...)[k],
    by the very rule that filled the border. Axes are folded one after another (a corner cell's
    gradient travels along both). ``widths`` is np.pad's: one (before, after) per axis of ``grad``.
    """
    for axis, (before, after) in enumerate(widths):
        if not before and not after:
            continue
        g = np.moveaxis(grad, axis, 0)
        size = g.shape[0] - before - after
        source = np.pad(np.arange(size), (before, after), mode=mode)
        inner = g[before:before + size].copy()
        for k in [*range(before), *range(before + size, len(g))]:  # the few border rows (columns, ...)
            inner[source[k]] += g[k]
        grad = np.moveaxis(inner, 0, axis)
    return grad
