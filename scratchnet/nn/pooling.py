"""2-D max and average pooling (``torch.nn.MaxPool2d``, ``torch.nn.AvgPool2d``).

Input x (N, C, H, W); window (kh, kw), stride (sh, sw) (default: the kernel size), padding
(ph, pw) at most half the kernel. Output (N, C, Ho, Wo) with PyTorch's floor rule
Ho = (H + 2·ph - kh) // sh + 1 (``ceil_mode=False``).

Both are computed as one vectorised operation per kernel offset (p, q): the strided view
``xpad[:, :, p::sh, q::sw]`` (cut to Ho x Wo) holds, for every output pixel, the input
under offset (p, q) of its window. So a 2x2 pool is 4 whole-array operations, for
overlapping and non-overlapping windows alike, with no patch matrix and no copy of the
input; the arrays keep the memory layout of the input (e.g. channels-last from Conv2d).
"""
from __future__ import annotations

import numpy as np

from .conv import _pair, check_window_fits, output_size
from .module import Module, check_input


class _Pool2d(Module):
    """Arguments, shape checks and the per-offset window views shared by both pools."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = _pair(kernel_size, "kernel_size", 1)
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride", 1)
        self.padding = _pair(padding, "padding", 0)
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"{type(self).__name__}: padding {self.padding} must be at most half of "
                             f"kernel_size {self.kernel_size} (as in PyTorch)")
        self._saved_state = None

    def _pad(self, x: np.ndarray, value: float) -> np.ndarray:
        """x (N, C, H, W) padded with ``value`` to (N, C, H + 2·ph, W + 2·pw), keeping x's memory layout."""
        ph, pw = self.padding
        if ph == 0 and pw == 0:
            return x
        n, c, h, w = x.shape
        xpad = np.empty_like(x, shape=(n, c, h + 2 * ph, w + 2 * pw))
        xpad.fill(value)
        xpad[:, :, ph:ph + h, pw:pw + w] = x
        return xpad

    def _out_hw(self, h: int, w: int) -> tuple[int, int]:
        return tuple(output_size(s, k, st, p) for s, k, st, p in zip((h, w), self.kernel_size, self.stride, self.padding))

    def _windows(self, xpad: np.ndarray, ho: int, wo: int):
        """Yield, for each kernel offset (p, q) in row-major order, the view xpad[:, :, p::sh, q::sw] cut to (Ho, Wo)."""
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        for p in range(kh):
            for q in range(kw):
                yield xpad[:, :, p:p + sh * (ho - 1) + 1:sh, q:q + sw * (wo - 1) + 1:sw]

    def _check(self, x: np.ndarray) -> tuple[int, int]:
        check_input(self, x, (None, None, None, None))
        check_window_fits(self, x, self.kernel_size, self.padding)
        return self._out_hw(x.shape[2], x.shape[3])

    def _check_grad(self, grad_output: np.ndarray, x_shape: tuple) -> None:
        expected = (*x_shape[:2], *self._out_hw(*x_shape[2:]))
        if getattr(grad_output, "shape", None) != expected:
            raise ValueError(f"{self!r}: expected grad_output of shape {expected}, "
                             f"got {getattr(grad_output, 'shape', type(grad_output).__name__)}")

    def _unpad(self, dxpad: np.ndarray) -> np.ndarray:
        ph, pw = self.padding
        return dxpad[:, :, ph:dxpad.shape[2] - ph, pw:dxpad.shape[3] - pw]

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """``torch.nn.MaxPool2d``: y = max of each window (padding counts as -inf).

    Backward routes each output gradient to the input that was the window's maximum
    (summed where overlapping windows share an input). Ties go to the first maximum in
    row-major window order, as PyTorch's CPU kernel does.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        ho, wo = self._check(x)
        xpad = self._pad(x, -np.inf)
        windows = self._windows(xpad, ho, wo)
        y = np.array(next(windows), order="K")  # running maximum, starts at offset (0, 0)
        argmax = np.zeros_like(y, dtype=np.min_scalar_type(self.kernel_size[0] * self.kernel_size[1] - 1))
        for k, window in enumerate(windows, start=1):
            better = window > y  # strict: an equal later value does not replace the first maximum
            np.copyto(y, window, where=better)
            np.copyto(argmax, k, where=better)
        self._saved_state = (x.shape, xpad.shape, argmax) if self.training else None
        return y

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        x_shape, pad_shape, argmax = self._saved(self._saved_state)
        self._check_grad(grad_output, x_shape)
        dxpad = np.zeros_like(grad_output, shape=pad_shape)
        zero = np.zeros((), dtype=grad_output.dtype)
        for k, window in enumerate(self._windows(dxpad, *argmax.shape[2:])):
            window += np.where(argmax == k, grad_output, zero)
        return self._unpad(dxpad)


class AvgPool2d(_Pool2d):
    """``torch.nn.AvgPool2d``: y = mean of each window.

    With ``count_include_pad=True`` (PyTorch's default) padded zeros count in the mean, so
    every window divides by kh·kw; with False it divides by the number of real inputs in
    the window. Backward spreads each output gradient evenly over its window:
    dx[window] += g / divisor.
    """

    def __init__(self, kernel_size, stride=None, padding=0, count_include_pad: bool = True):
        super().__init__(kernel_size, stride, padding)
        self.count_include_pad = bool(count_include_pad)

    def _divisor(self, x_shape: tuple, dtype) -> np.ndarray | float:
        """kh·kw, or per output pixel (Ho, Wo) the count of non-padding inputs in its window."""
        kh, kw = self.kernel_size
        if self.count_include_pad or self.padding == (0, 0):
            return float(kh * kw)
        ones = self._pad(np.ones((1, 1, *x_shape[2:]), dtype=dtype), 0.0)
        ho, wo = self._out_hw(*x_shape[2:])
        return sum(self._windows(ones, ho, wo))[0, 0]

    def forward(self, x: np.ndarray) -> np.ndarray:
        ho, wo = self._check(x)
        windows = self._windows(self._pad(x, 0.0), ho, wo)
        y = np.array(next(windows), order="K")
        for window in windows:
            y += window
        y /= self._divisor(x.shape, x.dtype)
        self._saved_state = x.shape if self.training else None
        return y

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        x_shape = self._saved(self._saved_state)
        self._check_grad(grad_output, x_shape)
        ph, pw = self.padding
        dxpad = np.zeros_like(grad_output, shape=(*x_shape[:2], x_shape[2] + 2 * ph, x_shape[3] + 2 * pw))
        share = grad_output / self._divisor(x_shape, grad_output.dtype)
        for window in self._windows(dxpad, *grad_output.shape[2:]):
            window += share
        return self._unpad(dxpad)

    def extra_repr(self) -> str:
        return super().extra_repr() + ("" if self.count_include_pad else ", count_include_pad=False")
