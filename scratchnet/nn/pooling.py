"""2-D max and average pooling (``torch.nn.MaxPool2d``, ``torch.nn.AvgPool2d``).

Input x (N, C, H, W); window (kh, kw), stride (sh, sw) (default: the kernel size), padding
(ph, pw) at most half the kernel. Output (N, C, Ho, Wo) with PyTorch's floor rule
Ho = (H + 2·ph - kh) // sh + 1 (``ceil_mode=False``).

Both are computed from strided views instead of a patch matrix: the view
``xpad[:, :, p::sh, q::sw]`` (cut to Ho x Wo) holds, for every output pixel, the input
under offset (p, q) of its window, so a window reduction is a few whole-array
operations, for overlapping and non-overlapping windows alike. The results keep the
memory layout of the input (e.g. channels-last from Conv2d).
"""
from __future__ import annotations

import numpy as np

from ._utils import as_pair, check_grad_output, check_input, check_window_fits, output_size
from .module import Module
from .parallel import run_blocks, sample_blocks


class _Pool2d(Module):
    """Arguments, padding and shape checks shared by both pools."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = as_pair(kernel_size, "kernel_size", 1)
        self.stride = self.kernel_size if stride is None else as_pair(stride, "stride", 1)
        self.padding = as_pair(padding, "padding", 0)
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
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        return output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)

    def _check(self, x: np.ndarray) -> tuple[int, int]:
        check_input(self, x, (None, None, None, None))
        check_window_fits(self, x, self.kernel_size, self.padding)
        return self._out_hw(x.shape[2], x.shape[3])

    def _check_grad(self, grad_output: np.ndarray, x_shape: tuple) -> None:
        check_grad_output(self, grad_output, (*x_shape[:2], *self._out_hw(*x_shape[2:])))

    def _unpad(self, dxpad: np.ndarray) -> np.ndarray:
        ph, pw = self.padding
        return dxpad[:, :, ph:dxpad.shape[2] - ph, pw:dxpad.shape[3] - pw]

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """``torch.nn.MaxPool2d``: y = max of each window (padding counts as -inf).

    The max over a kh x kw window is separable, so it runs in two passes of cheap
    whole-array operations: first over the kw column offsets of every row,

        z[n, c, r, j] = max_q xpad[n, c, r, j·sw + q]          (N, C, rows, Wo)

    then over the kh row offsets, y[n, c, i, j] = max_p z[n, c, i·sh + p, j]. Each pass
    records which offset won (in training mode), and backward routes each output gradient
    back through both: to the winning row of z, then to the winning column of x (summed
    where overlapping windows share an input). Ties go to the first maximum in row-major
    window order, as in PyTorch's CPU kernel: each pass keeps the earliest offset on
    equality, and taking columns before rows makes the earliest row win overall.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        ho, wo = self._check(x)
        kh, sh = self.kernel_size[0], self.stride[0]
        xpad = self._pad(x, -np.inf)[:, :, : sh * (ho - 1) + kh]  # the rows some window covers
        n, c, rows, _ = xpad.shape
        y = np.empty_like(xpad, shape=(n, c, ho, wo))  # keeps x's memory layout
        col_winner = np.empty_like(xpad, dtype=np.uint8, shape=(n, c, rows, wo)) if self.training else None
        row_winner = np.empty_like(y, dtype=np.uint8) if self.training else None

        def pool_block(block):
            z, z_winner = self._running_max(self._column_views(xpad[block], wo))
            y_block, y_winner = self._running_max(self._row_views(z, ho))
            y[block] = y_block
            if self.training:
                col_winner[block], row_winner[block] = z_winner, y_winner

        run_blocks(pool_block, sample_blocks(xpad))
        self._saved_state = (x.shape, col_winner, row_winner) if self.training else None
        return y

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        x_shape, col_winner, row_winner = self._saved(self._saved_state)
        self._check_grad(grad_output, x_shape)
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        ph, pw = self.padding
        rows = col_winner.shape[2]
        # The gradient takes the input's memory layout (kept by the winner arrays), e.g.
        # channels-last after Conv2d: mixing layouts in one operation is slow.
        dxpad = np.zeros_like(col_winner, dtype=grad_output.dtype,
                              shape=(*x_shape[:2], x_shape[2] + 2 * ph, x_shape[3] + 2 * pw))

        def unpool_block(block):
            grad = np.empty_like(row_winner[block], dtype=grad_output.dtype)
            grad[...] = grad_output[block]
            dz = np.zeros_like(col_winner[block], dtype=grad.dtype)
            self._route(grad, row_winner[block], self._row_views(dz, grad.shape[2]), disjoint=sh >= kh)
            dx_rows = dxpad[block, :, :rows]
            self._route(dz, col_winner[block], self._column_views(dx_rows, grad.shape[3]), disjoint=sw >= kw)

        run_blocks(unpool_block, sample_blocks(dxpad))
        return self._unpad(dxpad)

    def _column_views(self, a: np.ndarray, wo: int) -> list:
        """a[:, :, :, q::sw] cut to Wo columns, for each column offset q."""
        kw, sw = self.kernel_size[1], self.stride[1]
        return [a[:, :, :, q:q + sw * (wo - 1) + 1:sw] for q in range(kw)]

    def _row_views(self, a: np.ndarray, ho: int) -> list:
        """a[:, :, p::sh] cut to Ho rows, for each row offset p."""
        kh, sh = self.kernel_size[0], self.stride[0]
        return [a[:, :, p:p + sh * (ho - 1) + 1:sh] for p in range(kh)]

    def _running_max(self, views: list) -> tuple[np.ndarray, np.ndarray | None]:
        """Elementwise max over ``views`` and, in training mode, the index of the first view that holds it.

        A later view wins only where it is strictly greater, so ties go to the first. The
        first comparison's booleans are the winner for two views (the usual 2x2 pool) as
        uint8 0/1 without a copy; further views overwrite where they beat the running max.
        """
        if len(views) == 1:
            best = np.array(views[0], order="K")  # keeps the input's memory layout (e.g. channels-last)
            return best, (np.zeros_like(best, dtype=np.uint8) if self.training else None)
        winner = (views[1] > views[0]).view(np.uint8) if self.training else None
        best = np.maximum(views[0], views[1])
        for k, view in enumerate(views[2:], start=2):
            if self.training:
                winner[view > best] = k
            np.maximum(best, view, out=best)
        return best, winner

    @staticmethod
    def _route(grad: np.ndarray, winner: np.ndarray, views: list, disjoint: bool) -> None:
        """Send grad to views[winner]: assign when the views do not overlap, else accumulate."""
        for k, view in enumerate(views):
            if disjoint:  # each element of the zero-filled target belongs to exactly one view
                np.multiply(grad, winner == k, out=view)
            else:
                view += grad * (winner == k)


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

    def _windows(self, xpad: np.ndarray, ho: int, wo: int):
        """Yield, for each kernel offset (p, q), the view xpad[:, :, p::sh, q::sw] cut to (Ho, Wo)."""
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        for p in range(kh):
            for q in range(kw):
                yield xpad[:, :, p:p + sh * (ho - 1) + 1:sh, q:q + sw * (wo - 1) + 1:sw]

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
