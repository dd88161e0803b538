"""Adaptive pooling (``torch.nn.AdaptiveAvgPool2d``, ``torch.nn.AdaptiveMaxPool2d``): a fixed output size.

Input x (N, C, H, W) or unbatched (C, H, W); output (N, C, Oh, Ow) (or (C, Oh, Ow)). Output
row i pools the input rows of PyTorch's window

    [start_i, end_i) = [floor(i·H / Oh), ceil((i + 1)·H / Oh))          (columns alike with W, Ow)

so the windows tile the input exactly when Oh divides H, and overlap by a row otherwise.
``output_size`` 1 (global pooling, as in ResNets' heads) is the common case. An output
larger than the input is refused: its windows would repeat input pixels.
"""
from __future__ import annotations

import numpy as np

from ._utils import check_array, check_float_dtype, check_grad_output
from .module import Module


def _output_pair(output_size) -> tuple:
    """An int, None (keep the input's size) or a pair of them, checked; kept JSON-able as given."""
    pair = (output_size, output_size) if not isinstance(output_size, (tuple, list)) else tuple(output_size)
    ok = len(pair) == 2 and all(v is None or (isinstance(v, (int, np.integer)) and v >= 1) for v in pair)
    if not ok:
        raise ValueError(f"output_size must be a positive int, None or a pair of them, got {output_size!r}")
    return tuple(None if v is None else int(v) for v in pair)


def window_bounds(size: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """Starts and ends (out,) of the adaptive windows along an axis of ``size`` inputs."""
    i = np.arange(out)
    return (i * size) // out, -((-(i + 1) * size) // out)


def average_matrix(size: int, out: int, dtype) -> np.ndarray:
    """A (out, size): A[i, k] = 1 / (end_i - start_i) for k in window i, else 0; pooling is A @ x."""
    starts, ends = window_bounds(size, out)
    k = np.arange(size)
    inside = (k >= starts[:, None]) & (k < ends[:, None])
    return (inside / (ends - starts)[:, None]).astype(dtype)


def window_indices(size: int, out: int) -> np.ndarray:
    """(out, kmax) input indices of each window, the last index repeated to pad short windows to kmax."""
    starts, ends = window_bounds(size, out)
    offsets = np.arange((ends - starts).max())
    return np.minimum(starts[:, None] + offsets, ends[:, None] - 1)


class _AdaptivePool2d(Module):
    """The output size, 3-D/4-D input handling and checks of both adaptive pools."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = _output_pair(output_size)
        self._saved_state = None

    def _batched(self, x) -> tuple[np.ndarray, tuple[int, int]]:
        """x as (N, C, H, W) (a view) and the output's (Oh, Ow), after checking both."""
        check_array(self, x)
        if x.ndim not in (3, 4):
            raise ValueError(f"{self!r}: expected input of shape (N, C, H, W) or (C, H, W), got {x.shape}")
        check_float_dtype(self, x)
        h, w = x.shape[-2:]
        out = tuple(size if o is None else o for o, size in zip(self.output_size, (h, w)))
        if out[0] > h or out[1] > w:
            raise ValueError(f"{self!r}: output size {out[0]}x{out[1]} is larger than the input's {h}x{w} "
                             f"(input of shape {x.shape}); use a smaller output_size or a larger input")
        return (x if x.ndim == 4 else x[None]), out

    def _check_grad(self, grad_output, x_shape: tuple, out: tuple) -> np.ndarray:
        """grad_output checked against the last output's shape, as (N, C, Oh, Ow)."""
        check_grad_output(self, grad_output, (*x_shape[:-2], *out))
        return grad_output if grad_output.ndim == 4 else grad_output[None]

    def extra_repr(self) -> str:
        size = self.output_size
        return f"output_size={size[0] if size[0] == size[1] else size}"


class AdaptiveAvgPool2d(_AdaptivePool2d):
    """``torch.nn.AdaptiveAvgPool2d``: the mean of each adaptive window.

    Averaging is separable: with the (Oh, H) and (Ow, W) averaging matrices A_h, A_w
    (``average_matrix``), y = A_h · x · A_wᵀ for every (n, c) plane, and backward is the
    transpose, dL/dx = A_hᵀ · g · A_w. Global pooling (output 1x1) is a plain mean:
    y = Σ_{h, w} x / (H·W), dL/dx = g / (H·W) at every pixel.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        x4, (oh, ow) = self._batched(x)
        h, w = x4.shape[2:]
        if (oh, ow) == (1, 1):
            y = x4.sum(axis=(2, 3), keepdims=True)
            y /= h * w
        else:
            y = average_matrix(h, oh, x.dtype) @ (x4 @ average_matrix(w, ow, x.dtype).T)
        self._saved_state = (x.shape, (oh, ow)) if self.keeps_state else None
        return y if x.ndim == 4 else y[0]

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        x_shape, (oh, ow) = self._saved(self._saved_state)
        g = self._check_grad(grad_output, x_shape, (oh, ow))
        h, w = x_shape[-2:]
        if (oh, ow) == (1, 1):
            dx = np.broadcast_to(g / (h * w), (*g.shape[:2], h, w)).copy()
        else:
            dx = average_matrix(h, oh, g.dtype).T @ (g @ average_matrix(w, ow, g.dtype))
        return dx.reshape(x_shape)


class AdaptiveMaxPool2d(_AdaptivePool2d):
    """``torch.nn.AdaptiveMaxPool2d``: the maximum of each adaptive window.

    Separable like MaxPool2d: first the max over each column window of every row, z (N, C, H, Ow),
    gathered through ``window_indices`` (short windows repeat their last column, which never
    changes a max), then the max of z over each row window. Ties go to the first maximum in
    row-major window order, as in PyTorch. The winner's flat index h·W + w in its (n, c)
    plane is what torch calls the indices; ``return_indices=True`` returns them with y.
    Backward adds each output gradient to its winner, dL/dx[n, c, h*, w*] += g[n, c, i, j]
    (summed where overlapping windows share a winner).
    """

    def __init__(self, output_size, return_indices: bool = False):
        super().__init__(output_size)
        self.return_indices = bool(return_indices)

    def forward(self, x: np.ndarray):
        x4, (oh, ow) = self._batched(x)
        h, w = x4.shape[2:]
        rows, cols = window_indices(h, oh), window_indices(w, ow)
        col_win = x4[..., cols].argmax(axis=-1)                                     # (N, C, H, Ow)
        z = np.take_along_axis(x4, cols[np.arange(ow), col_win], axis=3)            # (N, C, H, Ow)
        row_win = z[:, :, rows].argmax(axis=3)                                      # (N, C, Oh, Ow)
        h_star = rows[np.arange(oh)[:, None], row_win]                              # winner rows
        w_star = cols[np.arange(ow), np.take_along_axis(col_win, h_star, axis=2)]   # winner columns
        indices = h_star * w + w_star                                               # (N, C, Oh, Ow)
        y = np.take_along_axis(x4.reshape(*x4.shape[:2], h * w), indices.reshape(*indices.shape[:2], -1),
                               axis=2).reshape(indices.shape)
        self._saved_state = (x.shape, (oh, ow), indices) if self.keeps_state else None
        if x.ndim == 3:
            y, indices = y[0], indices[0]
        return (y, indices) if self.return_indices else y

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        x_shape, out, indices = self._saved(self._saved_state)
        g = self._check_grad(grad_output, x_shape, out)
        n, c, h, w = (1, *x_shape) if len(x_shape) == 3 else x_shape
        planes = np.arange(n * c).reshape(n, c, 1, 1) * (h * w)  # offset of each (n, c) plane
        dx = np.bincount((indices + planes).ravel(), weights=g.ravel(), minlength=n * c * h * w)
        return dx.astype(g.dtype, copy=False).reshape(x_shape)

    def extra_repr(self) -> str:
        return super().extra_repr() + (", return_indices=True" if self.return_indices else "")
