"""2-D convolution (``torch.nn.Conv2d``) by im2col and one matrix product per block of samples.

Notation: input x (N, C, H, W), weight W (O, C, kh, kw), bias b (O,), stride (sh, sw),
zero padding (ph, pw); the padded input is (N, C, Hp, Wp) with Hp = H + 2·ph and the output
y is (N, O, Ho, Wo) with Ho = (Hp - kh) // sh + 1, Wo = (Wp - kw) // sw + 1 (PyTorch's floor).

    y[n, o, i, j] = b[o] + Σ_{c, p, q} W[o, c, p, q] · xpad[n, c, i·sh + p, j·sw + q]

im2col turns this sum into a matrix product. Internally the arrays are channels-last
(NHWC), so every row of the patch matrix is a contiguous copy of one receptive field:

    cols  (N·Ho·Wo, kh·kw·C)   row (n, i, j) = xpad[n, :, i·sh : i·sh+kh, j·sw : j·sw+kw] in (p, q, c) order
    Wmat  (kh·kw·C, O)          Wmat[(p, q, c), o] = W[o, c, p, q]
    y     (N·Ho·Wo, O)  = cols @ Wmat + b

Backward, with g = dL/dy laid out like y as (N·Ho·Wo, O):

    dL/dWmat = colsᵀ @ g            (kh·kw·C, O)  -> reshaped back to (O, C, kh, kw)
    dL/db    = Σ_rows g             (O,)
    dL/dcols = g @ Wmatᵀ, computed per kernel offset (p, q) as
               dcols[p, q] = g @ W[:, :, p, q]     (kh·kw, N·Ho·Wo, C)  one batched matmul
    dL/dx    = col2im(dL/dcols): each patch entry is added back to the pixel it was copied
               from, i.e. for every kernel offset (p, q) one strided slice-add of dcols[p, q]
               (N, Ho, Wo, C) into dxpad[:, p::sh, q::sw, :]  (kh·kw vectorised adds).
               Keeping each offset's block contiguous makes these adds run over long rows
               of Wo·C floats. For few input channels (C <= 4: grey or RGB images) the
               per-offset products (N·Ho·Wo, C) are too thin for BLAS, so there it is one
               GEMM dcolsᵀ = Wmat @ gᵀ (kh·kw·C, N·Ho·Wo), added per offset into a
               channels-first (C, N, Hp, Wp) gradient: rows of Wo floats.

Speed: the samples are processed in blocks whose patch matrix fits in cache (about 1 MiB),
so im2col, the GEMM and col2im work on cache-resident data instead of a patch matrix of
tens of MB; each block is still one GEMM over all its pixels and channels, and the blocks
run in parallel on as many threads as BLAS is allowed (``parallel.run_blocks``). The patch matrix
is rebuilt in backward rather than kept, so training memory stays at one input.

Layout: the output is returned as an NCHW *view* of channels-last memory (what PyTorch
calls ``torch.channels_last``): shape, indexing and values are exactly NCHW, and the next
convolution reads it without a transpose copy. ``np.ascontiguousarray(y)`` gives the
standard C-order layout for code that needs raw buffers.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import init
from .module import Module, Parameter, check_input
from .parallel import run_blocks, sample_blocks

_FEW_CHANNELS = 4  # up to this many input channels, dL/dx goes through a channels-first col2im (measured)


def as_pair(value, name: str, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints, as torch's kernel_size/stride/padding, checked to be >= minimum."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and v >= minimum for v in pair):
        raise ValueError(f"{name} must be an int or a pair of ints >= {minimum}, got {value!r}")
    return int(pair[0]), int(pair[1])


def output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length along one axis: floor((size + 2·padding - kernel) / stride) + 1."""
    return (size + 2 * padding - kernel) // stride + 1


def check_window_fits(module: Module, x: np.ndarray, kernel: tuple, padding: tuple) -> None:
    """Raise a ValueError naming ``module`` when the kernel is larger than the padded input."""
    padded = (x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1])
    if padded[0] < kernel[0] or padded[1] < kernel[1]:
        raise ValueError(
            f"{module!r}: input of shape {x.shape} is {padded[0]}x{padded[1]} after padding, smaller "
            f"than the {kernel[0]}x{kernel[1]} kernel; use larger images, more padding or a smaller kernel"
        )


class Conv2d(Module):
    """``torch.nn.Conv2d`` (zero padding, no dilation or groups): (N, C, H, W) -> (N, O, Ho, Wo).

    ``kernel_size``, ``stride`` and ``padding`` are ints or (height, width) pairs. The weight
    (out_channels, in_channels, kh, kw) and bias (out_channels,) start as in PyTorch:
    U(±1/√fan_in) with fan_in = in_channels·kh·kw. See the module docstring for the math.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 bias: bool = True, dtype=np.float32, generator=None):
        super().__init__()
        if not (isinstance(in_channels, (int, np.integer)) and isinstance(out_channels, (int, np.integer))
                and in_channels > 0 and out_channels > 0):
            raise ValueError(f"Conv2d needs positive channel counts, got in_channels={in_channels!r}, "
                             f"out_channels={out_channels!r}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = as_pair(kernel_size, "kernel_size", 1)
        self.stride = as_pair(stride, "stride", 1)
        self.padding = as_pair(padding, "padding", 0)
        kh, kw = self.kernel_size
        self.weight = Parameter(np.empty((out_channels, in_channels, kh, kw), dtype=dtype))
        self.bias = Parameter(np.empty(out_channels, dtype=dtype)) if bias else None
        init.default_weight_and_bias_(self.weight, self.bias, generator)
        self._xpad = None  # channels-last padded input (N, Hp, Wp, C), kept for backward

    # -- helpers --------------------------------------------------------------------
    def _weight_matrix(self) -> np.ndarray:
        """Wmat (kh·kw·C, O) with Wmat[(p, q, c), o] = W[o, c, p, q]."""
        return self.weight.data.transpose(2, 3, 1, 0).reshape(-1, self.out_channels)

    def _pad_channels_last(self, x: np.ndarray) -> np.ndarray:
        """(N, C, H, W) -> zero-padded contiguous (N, Hp, Wp, C); no copy for unpadded channels-last input."""
        ph, pw = self.padding
        nhwc = x.transpose(0, 2, 3, 1)
        if ph == 0 and pw == 0:
            return np.ascontiguousarray(nhwc)
        n, h, w, c = nhwc.shape
        xpad = np.zeros((n, h + 2 * ph, w + 2 * pw, c), dtype=x.dtype)
        xpad[:, ph:ph + h, pw:pw + w, :] = nhwc
        return xpad

    def _out_hw(self, hp: int, wp: int) -> tuple[int, int]:
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        return output_size(hp, kh, sh, 0), output_size(wp, kw, sw, 0)

    def _im2col(self, xpad: np.ndarray) -> np.ndarray:
        """(B, Hp, Wp, C) -> patch matrix (B·Ho·Wo, kh·kw·C), one receptive field per row."""
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        windows = sliding_window_view(xpad, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]  # (B, Ho, Wo, C, kh, kw)
        return windows.transpose(0, 1, 2, 4, 5, 3).reshape(-1, kh * kw * xpad.shape[3])

    def _col2im_add(self, dcols: np.ndarray, dxpad: np.ndarray) -> None:
        """Add patch gradients (kh·kw, B·Ho·Wo, C) back into their pixels of dxpad (B, Hp, Wp, C)."""
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        b, hp, wp, c = dxpad.shape
        ho, wo = self._out_hw(hp, wp)
        dcols = dcols.reshape(kh, kw, b, ho, wo, c)
        for p in range(kh):  # one vectorised add per kernel offset (e.g. 9 for 3x3)
            for q in range(kw):
                dxpad[:, p:p + sh * (ho - 1) + 1:sh, q:q + sw * (wo - 1) + 1:sw, :] += dcols[p, q]

    def _col2im_add_channels_first(self, dcols_t: np.ndarray, dx: np.ndarray) -> None:
        """Add patch gradients (kh·kw·C, B·Ho·Wo) back into their pixels of dx (C, B, Hp, Wp)."""
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        c, b, hp, wp = dx.shape
        ho, wo = self._out_hw(hp, wp)
        dcols_t = dcols_t.reshape(kh, kw, c, b, ho, wo)
        for p in range(kh):
            for q in range(kw):
                dx[:, :, p:p + sh * (ho - 1) + 1:sh, q:q + sw * (wo - 1) + 1:sw] += dcols_t[p, q]

    def _blocks(self, xpad: np.ndarray, ho: int, wo: int) -> list:
        """Slices of samples whose patch matrices are about _BLOCK_BYTES each."""
        kh, kw = self.kernel_size
        return sample_blocks(xpad, ho * wo * kh * kw * self.in_channels * xpad.itemsize)

    # -- forward / backward ------------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        check_input(self, x, (None, self.in_channels, None, None), self.weight.dtype)
        check_window_fits(self, x, self.kernel_size, self.padding)
        xpad = self._pad_channels_last(x)
        n, hp, wp, _ = xpad.shape
        ho, wo = self._out_hw(hp, wp)
        wmat = self._weight_matrix()
        y = np.empty((n, ho * wo, self.out_channels), dtype=x.dtype)  # channels-last output rows

        def forward_block(block):  # y rows of these samples = cols @ Wmat + b
            rows = y[block].reshape(-1, self.out_channels)
            np.matmul(self._im2col(xpad[block]), wmat, out=rows)
            if self.bias is not None:
                rows += self.bias.data

        run_blocks(forward_block, self._blocks(xpad, ho, wo))
        self._xpad = xpad if self.training else None
        return y.reshape(n, ho, wo, self.out_channels).transpose(0, 3, 1, 2)

    can_skip_input_grad = True

    def backward(self, grad_output: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dL/dW and dL/db accumulate; dL/dx is returned unless input_grad=False (first layer)."""
        xpad = self._saved(self._xpad)
        n, hp, wp, c = xpad.shape
        ho, wo = self._out_hw(hp, wp)
        expected = (n, self.out_channels, ho, wo)
        if getattr(grad_output, "shape", None) != expected:
            raise ValueError(f"{self!r}: expected grad_output of shape {expected}, "
                             f"got {getattr(grad_output, 'shape', type(grad_output).__name__)}")
        g = np.ascontiguousarray(grad_output.transpose(0, 2, 3, 1)).reshape(n, ho * wo, self.out_channels)
        kh, kw = self.kernel_size
        few_channels = c <= _FEW_CHANNELS
        if not input_grad:
            dxpad = None
        elif few_channels:
            wmat = self._weight_matrix()
            dxpad = np.zeros((c, n, hp, wp), dtype=xpad.dtype)  # channels-first
        else:
            # (kh·kw, O, C): W[:, :, p, q] for each kernel offset
            w_per_offset = self.weight.data.transpose(2, 3, 0, 1).reshape(kh * kw, self.out_channels, c)
            dxpad = np.zeros_like(xpad)

        def backward_block(block):  # this block's shares of dL/dWmat and dL/db; its dL/dx goes into dxpad
            g_rows = g[block].reshape(-1, self.out_channels)
            if dxpad is not None and few_channels:
                self._col2im_add_channels_first(wmat @ g_rows.T, dxpad[:, block])
            elif dxpad is not None:
                self._col2im_add(np.matmul(g_rows, w_per_offset), dxpad[block])
            return self._im2col(xpad[block]).T @ g_rows, g_rows.sum(axis=0)

        partial = run_blocks(backward_block, self._blocks(xpad, ho, wo))
        grad_wmat = sum((w for w, _ in partial), np.zeros((kh * kw * c, self.out_channels), dtype=xpad.dtype))
        grad_weight = grad_wmat.reshape(kh, kw, c, self.out_channels).transpose(3, 2, 0, 1)  # (O, C, kh, kw)
        self.weight.accumulate(np.ascontiguousarray(grad_weight))
        if self.bias is not None:
            self.bias.accumulate(sum((b for _, b in partial), np.zeros(self.out_channels, dtype=xpad.dtype)))
        ph, pw = self.padding
        if dxpad is None:
            return None
        if few_channels:
            return dxpad[:, :, ph:hp - ph, pw:wp - pw].transpose(1, 0, 2, 3)
        return dxpad[:, ph:hp - ph, pw:wp - pw, :].transpose(0, 3, 1, 2)

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.bias is None:
            text += ", bias=False"
        return text
