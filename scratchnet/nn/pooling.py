"""2-D max and average pooling (``torch.nn.MaxPool2d``, ``torch.nn.AvgPool2d``).

Input x (N, C, H, W) or unbatched (C, H, W) (the output then has no batch axis either); window (kh, kw), stride (sh, sw) (default: the kernel size), padding
(ph, pw) at most half the kernel, dilation (dh, dw) (max pooling only). Output (N, C, Ho, Wo)
with PyTorch's rule Ho = (H + 2·ph - dh·(kh - 1) - 1) // sh + 1, rounded up instead with
``ceil_mode=True`` (a last window that starts in the right padding is dropped). Windows that
run past the padded input (ceil_mode) see extra padding on the bottom and right: -inf for max,
nothing counted for the average.

Both are computed from strided views instead of a patch matrix: the view
``xpad[:, :, p·dh::sh, q·dw::sw]`` (cut to Ho x Wo) holds, for every output pixel, the input
under offset (p, q) of its window, so a window reduction is a few whole-array
operations, for overlapping and non-overlapping windows alike. The results keep the
memory layout of the input (e.g. channels-last from Conv2d).
"""
from __future__ import annotations

import numpy as np

from ._utils import as_pair, check_float_dtype, check_grad_output, check_window_fits, output_size
from .module import Module
from .parallel import run_blocks, sample_blocks


class _Pool2d(Module):
    """Arguments, padding and shape checks shared by both pools."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False):
        super().__init__()
        self.kernel_size = as_pair(kernel_size, "kernel_size", 1)
        self.stride = self.kernel_size if stride is None else as_pair(stride, "stride", 1)
        self.padding = as_pair(padding, "padding", 0)
        self.dilation = as_pair(dilation, "dilation", 1)
        self.ceil_mode = bool(ceil_mode)
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"{type(self).__name__}: padding {self.padding} must be at most half of "
                             f"kernel_size {self.kernel_size} (as in PyTorch)")
        self._saved_state = None
        self._unbatched = False

    def forward(self, x: np.ndarray):
        """x (N, C, H, W) -> (N, C, Ho, Wo); an unbatched (C, H, W) runs as a batch of one."""
        self._unbatched = isinstance(x, np.ndarray) and x.ndim == 3
        if not self._unbatched:
            return self._forward(x)
        out = self._forward(x[None])
        return tuple(a[0] for a in out) if isinstance(out, tuple) else out[0]

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """dL/dx of x's shape from dL/dy of y's shape (both without the batch axis if x had none)."""
        if not self._unbatched:
            return self._backward(grad_output)
        return self._backward(np.asarray(grad_output)[None])[0]

    def _extents(self) -> tuple[int, int]:
        """The (dilated) window's height and width: dh·(kh - 1) + 1, dw·(kw - 1) + 1."""
        return tuple(d * (k - 1) + 1 for k, d in zip(self.kernel_size, self.dilation))

    def _padded_hw(self, h: int, w: int) -> tuple[int, int]:
        """Height and width the windows cover: H + 2·ph, plus what ceil_mode's last window runs past it."""
        (ho, wo), (sh, sw), (eh, ew), (ph, pw) = self._out_hw(h, w), self.stride, self._extents(), self.padding
        return max(h + 2 * ph, sh * (ho - 1) + eh), max(w + 2 * pw, sw * (wo - 1) + ew)

    def _pad(self, x: np.ndarray, value: float) -> np.ndarray:
        """x (N, C, H, W) padded with ``value`` to (N, C, *_padded_hw), keeping x's memory layout."""
        (ph, pw), (n, c, h, w) = self.padding, x.shape
        hp, wp = self._padded_hw(h, w)
        if (hp, wp) == (h, w):
            return x
        xpad = np.empty_like(x, shape=(n, c, hp, wp))
        xpad.fill(value)
        xpad[:, :, ph:ph + h, pw:pw + w] = x
        return xpad

    def _out_hw(self, h: int, w: int) -> tuple[int, int]:
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = self.kernel_size, self.stride, self.padding, self.dilation
        return (output_size(h, kh, sh, ph, dh, self.ceil_mode), output_size(w, kw, sw, pw, dw, self.ceil_mode))

    def _check(self, x: np.ndarray) -> tuple[int, int]:
        if not isinstance(x, np.ndarray) or x.ndim != 4:
            got = x.shape if isinstance(x, np.ndarray) else type(x).__name__
            raise ValueError(f"{self!r}: expected input of shape (N, C, H, W) or (C, H, W), got {got}")
        check_float_dtype(self, x)
        check_window_fits(self, x, self.kernel_size, self.padding, self.dilation)
        return self._out_hw(x.shape[2], x.shape[3])

    def _check_grad(self, grad_output: np.ndarray, x_shape: tuple) -> None:
        check_grad_output(self, grad_output, (*x_shape[:2], *self._out_hw(*x_shape[2:])))

    def _unpad(self, dxpad: np.ndarray, x_shape: tuple) -> np.ndarray:
        (ph, pw), (h, w) = self.padding, x_shape[2:]
        return dxpad[:, :, ph:ph + h, pw:pw + w]

    def _windows(self, xpad: np.ndarray, ho: int, wo: int):
        """Yield, for each kernel offset (p, q), the view xpad[:, :, p·dh::sh, q·dw::sw] cut to (Ho, Wo)."""
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
        for p in range(kh):
            for q in range(kw):
                yield xpad[:, :, p * dh:p * dh + sh * (ho - 1) + 1:sh, q * dw:q * dw + sw * (wo - 1) + 1:sw]

    def extra_repr(self) -> str:
        text = f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
        text += f", dilation={self.dilation}" if self.dilation != (1, 1) else ""
        return text + (", ceil_mode=True" if self.ceil_mode else "")


class MaxPool2d(_Pool2d):
    """``torch.nn.MaxPool2d``: y = max of each (dilated) window (padding counts as -inf).

    The max over a kh x kw window is separable, so it runs in two passes of cheap
    whole-array operations: first over the kw column offsets of every row,

        z[n, c, r, j] = max_q xpad[n, c, r, j·sw + q·dw]          (N, C, rows, Wo)

    then over the kh row offsets, y[n, c, i, j] = max_p z[n, c, i·sh + p·dh, j]. Each pass
    records which offset won (in training mode, or for ``return_indices``), and backward
    routes each output gradient back through both: to the winning row of z, then to the
    winning column of x (summed where overlapping windows share an input). Ties go to the
    first maximum in row-major window order, as in PyTorch's CPU kernel: each pass keeps the
    earliest offset on equality, and taking columns before rows makes the earliest row win overall.

    ``return_indices=True`` returns (y, indices) as torch does: the winner's flat index
    h·W + w in its (n, c) plane of the unpadded input (int64, y's shape).
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices: bool = False,
                 ceil_mode: bool = False):
        super().__init__(kernel_size, stride, padding, dilation, ceil_mode)
        self.return_indices = bool(return_indices)

    def _forward(self, x: np.ndarray):
        ho, wo = self._check(x)
        eh, sh = self._extents()[0], self.stride[0]
        xpad = self._pad(x, -np.inf)[:, :, : sh * (ho - 1) + eh]  # the rows some window covers
        n, c, rows, _ = xpad.shape
        y = np.empty_like(xpad, shape=(n, c, ho, wo))  # keeps x's memory layout
        keep = self.keeps_state or self.return_indices
        col_winner = np.empty_like(xpad, dtype=np.uint8, shape=(n, c, rows, wo)) if keep else None
        row_winner = np.empty_like(y, dtype=np.uint8) if keep else None

        def pool_block(block):
            z, z_winner = self._running_max(self._column_views(xpad[block], wo), keep)
            y_block, y_winner = self._running_max(self._row_views(z, ho), keep)
            y[block] = y_block
            if keep:
                col_winner[block], row_winner[block] = z_winner, y_winner

        run_blocks(pool_block, sample_blocks(xpad))
        self._saved_state = (x.shape, col_winner, row_winner) if self.keeps_state else None
        if self.return_indices:
            return y, self._indices(x.shape, col_winner, row_winner)
        return y

    def extra_repr(self) -> str:
        return super().extra_repr() + (", return_indices=True" if self.return_indices else "")

    def _indices(self, x_shape: tuple, col_winner: np.ndarray, row_winner: np.ndarray) -> np.ndarray:
        """Flat indices h·W + w (unpadded) of each output's winner, from the two passes' winning offsets."""
        (sh, sw), (dh, dw), (ph, pw) = self.stride, self.dilation, self.padding
        ho, wo = row_winner.shape[2:]
        row = np.arange(ho)[:, None] * sh + row_winner.astype(np.int64) * dh        # padded row of the winner
        column_offset = np.take_along_axis(col_winner, row, axis=2).astype(np.int64)
        column = np.arange(wo) * sw + column_offset * dw                           # padded column
        return (row - ph) * x_shape[3] + (column - pw)

    def _backward(self, grad_output: np.ndarray) -> np.ndarray:
        x_shape, col_winner, row_winner = self._saved(self._saved_state)
        self._check_grad(grad_output, x_shape)
        (sh, sw), (eh, ew) = self.stride, self._extents()
        rows = col_winner.shape[2]
        # The gradient takes the input's memory layout (kept by the winner arrays), e.g.
        # channels-last after Conv2d: mixing layouts in one operation is slow.
        dxpad = np.zeros_like(col_winner, dtype=grad_output.dtype,
                              shape=(*x_shape[:2], *self._padded_hw(*x_shape[2:])))

        def unpool_block(block):
            grad = np.empty_like(row_winner[block], dtype=grad_output.dtype)
            grad[...] = grad_output[block]
            dz = np.zeros_like(col_winner[block], dtype=grad.dtype)
            self._route(grad, row_winner[block], self._row_views(dz, grad.shape[2]), disjoint=sh >= eh)
            dx_rows = dxpad[block, :, :rows]
            self._route(dz, col_winner[block], self._column_views(dx_rows, grad.shape[3]), disjoint=sw >= ew)

        run_blocks(unpool_block, sample_blocks(dxpad))
        return self._unpad(dxpad, x_shape)

    def _column_views(self, a: np.ndarray, wo: int) -> list:
        """a[:, :, :, q·dw::sw] cut to Wo columns, for each column offset q."""
        kw, sw, dw = self.kernel_size[1], self.stride[1], self.dilation[1]
        return [a[:, :, :, q * dw:q * dw + sw * (wo - 1) + 1:sw] for q in range(kw)]

    def _row_views(self, a: np.ndarray, ho: int) -> list:
        """a[:, :, p·dh::sh] cut to Ho rows, for each row offset p."""
        kh, sh, dh = self.kernel_size[0], self.stride[0], self.dilation[0]
        return [a[:, :, p * dh:p * dh + sh * (ho - 1) + 1:sh] for p in range(kh)]

    @staticmethod
    def _running_max(views: list, keep: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Elementwise max over ``views`` and, if ``keep``, the index of the first view that holds it.

        A later view wins only where it is strictly greater, so ties go to the first. The
        first comparison's booleans are the winner for two views (the usual 2x2 pool) as
        uint8 0/1 without a copy; further views overwrite where they beat the running max.
        """
        if len(views) == 1:
            best = np.array(views[0], order="K")  # keeps the input's memory layout (e.g. channels-last)
            return best, (np.zeros_like(best, dtype=np.uint8) if keep else None)
        winner = (views[1] > views[0]).view(np.uint8) if keep else None
        best = np.maximum(views[0], views[1])
        for k, view in enumerate(views[2:], start=2):
            if keep:
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

    With ``count_include_pad=True`` (PyTorch's default) padded zeros count in the mean, so a
    window divides by kh·kw (fewer where a ``ceil_mode`` window runs past the padding); with
    False it divides by the number of real inputs in the window; ``divisor_override`` replaces
    the divisor by that number everywhere. Backward spreads each output gradient evenly over
    its window: dx[window] += g / divisor.
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None):
        super().__init__(kernel_size, stride, padding, ceil_mode=ceil_mode)
        self.count_include_pad = bool(count_include_pad)
        if divisor_override is not None and (not isinstance(divisor_override, (int, np.integer))
                                             or divisor_override <= 0):
            raise ValueError(f"AvgPool2d: divisor_override must be a positive int or None, got {divisor_override!r}")
        self.divisor_override = None if divisor_override is None else int(divisor_override)

    def _divisor(self, x_shape: tuple, dtype) -> np.ndarray | float:
        """The divisor of each output pixel: a number, or an (Ho, Wo) array counting what its window covers."""
        if self.divisor_override is not None:
            return float(self.divisor_override)
        (kh, kw), (ph, pw), (h, w) = self.kernel_size, self.padding, x_shape[2:]
        padded = (h + 2 * ph, w + 2 * pw)
        if self._padded_hw(h, w) == padded and (self.count_include_pad or self.padding == (0, 0)):
            return float(kh * kw)
        counted = np.ones((1, 1, *padded), dtype=dtype)  # what the mean counts: padding too, or only x
        if not self.count_include_pad:
            counted[:, :, :ph], counted[:, :, h + ph:], counted[:, :, :, :pw], counted[:, :, :, w + pw:] = 0, 0, 0, 0
        covered = np.zeros((1, 1, *self._padded_hw(h, w)), dtype=dtype)  # nothing beyond the padding counts
        covered[:, :, :padded[0], :padded[1]] = counted
        return sum(self._windows(covered, *self._out_hw(h, w)))[0, 0]

    def _forward(self, x: np.ndarray) -> np.ndarray:
        ho, wo = self._check(x)
        windows = self._windows(self._pad(x, 0.0), ho, wo)
        y = np.array(next(windows), order="K")
        for window in windows:
            y += window
        y /= self._divisor(x.shape, x.dtype)
        self._saved_state = x.shape if self.keeps_state else None
        return y

    def _backward(self, grad_output: np.ndarray) -> np.ndarray:
        x_shape = self._saved(self._saved_state)
        self._check_grad(grad_output, x_shape)
        dxpad = np.zeros_like(grad_output, shape=(*x_shape[:2], *self._padded_hw(*x_shape[2:])))
        share = grad_output / self._divisor(x_shape, grad_output.dtype)
        for window in self._windows(dxpad, *grad_output.shape[2:]):
            window += share
        return self._unpad(dxpad, x_shape)

    def extra_repr(self) -> str:
        text = super().extra_repr() + ("" if self.count_include_pad else ", count_include_pad=False")
        return text + ("" if self.divisor_override is None else f", divisor_override={self.divisor_override}")
