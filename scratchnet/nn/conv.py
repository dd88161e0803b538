"""2-D convolution (``torch.nn.Conv2d``) by im2col and one matrix product per block of samples.

Notation: input x (N, C, H, W), weight W (O, C, kh, kw), bias b (O,), stride (sh, sw),
zero padding (ph, pw); the padded input is (N, C, Hp, Wp) with Hp = H + 2·ph and the output
y is (N, O, Ho, Wo) with Ho = (Hp - kh) // sh + 1, Wo = (Wp - kw) // sw + 1 (PyTorch's floor).

    y[n, o, i, j] = b[o] + Σ_{c, p, q} W[o, c, p, q] · xpad[n, c, i·sh + p, j·sw + q]

im2col turns this sum into a matrix product, with K = C·kh·kw:

    cols  (N·Ho·Wo, K)   row (n, i, j) = the receptive field of output pixel (n, i, j)
    Wmat  (K, O)          the same K weights of every filter, in the same order
    y     (N·Ho·Wo, O)  = cols @ Wmat + b

The patch matrix is copied in whichever layout makes the copy run over long rows:

    many channels (C > 4): channels-last input (N, Hp, Wp, C), rows in (p, q, c) order: a
        row is kh·kw contiguous runs of C floats, one receptive field.
    few channels (C <= 4: grey or RGB images): channels-first input (C, N, Hp, Wp), and the
        matrix is built transposed, colsᵀ (K, N·Ho·Wo) in (c, p, q) order: a row of colsᵀ is
        one shifted image, runs of Wo floats instead of runs of 1 to 3 (6x faster for C = 1,
        measured). The GEMM reads cols = (colsᵀ)ᵀ as a transposed view, without a copy.

Backward, with g = dL/dy laid out like y as (N·Ho·Wo, O):

    dL/dWmat = colsᵀ @ g            (K, O)  -> reshaped back to (O, C, kh, kw)
    dL/db    = Σ_rows g             (O,)
    dL/dcols = g @ Wmatᵀ; dL/dx = col2im(dL/dcols): each patch entry is added back to the
               pixel it was copied from, one strided slice-add per kernel offset (p, q):
      many channels: per offset dcols[p, q] = g @ W[:, :, p, q]  (kh·kw, N·Ho·Wo, C), one
               batched matmul, added into dxpad[:, p::sh, q::sw, :] (rows of Wo·C floats);
      few channels: the products (N·Ho·Wo, C) would be too thin for BLAS, so it is one GEMM
               dcolsᵀ = Wmat @ gᵀ (K, N·Ho·Wo), added into the channels-first
               dxpad[c, :, p::sh, q::sw] (rows of Wo floats).

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
from ._utils import as_pair, check_grad_output, check_input, check_window_fits, output_size
from .kernels import conv as direct_conv
from .module import Module, Parameter
from .parallel import run_blocks, sample_blocks

_FEW_CHANNELS = 4  # up to this many input channels, the patch matrix is built channels-first (measured)


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
        self._xpad = None  # the padded input in _pad's layout, kept for backward

    # -- helpers --------------------------------------------------------------------
    @property
    def _few_channels(self) -> bool:
        return self.in_channels <= _FEW_CHANNELS

    def _weight_matrix(self) -> np.ndarray:
        """Wmat (K, O): Wmat[(c, p, q), o] for few channels, Wmat[(p, q, c), o] for many, = W[o, c, p, q]."""
        if self._few_channels:
            return self.weight.data.reshape(self.out_channels, -1).T
        return self.weight.data.transpose(2, 3, 1, 0).reshape(-1, self.out_channels)

    def _weight_grad(self, grad_wmat: np.ndarray) -> np.ndarray:
        """dL/dWmat (K, O) back to the weight's layout (O, C, kh, kw), contiguous."""
        if self._few_channels:
            return np.ascontiguousarray(grad_wmat.T).reshape(self.weight.data.shape)
        kh, kw = self.kernel_size
        grad = grad_wmat.reshape(kh, kw, self.in_channels, self.out_channels).transpose(3, 2, 0, 1)
        return np.ascontiguousarray(grad)

    def _pad(self, x: np.ndarray) -> np.ndarray:
        """(N, C, H, W) -> zero-padded contiguous (C, N, Hp, Wp) for few channels, (N, Hp, Wp, C) for many."""
        ph, pw = self.padding
        few = self._few_channels
        layout = x.transpose(1, 0, 2, 3) if few else x.transpose(0, 2, 3, 1)
        if ph == 0 and pw == 0:
            return np.ascontiguousarray(layout)  # no copy when x already has this layout
        n, c, h, w = x.shape
        if few:
            xpad = np.zeros((c, n, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
            xpad[:, :, ph:ph + h, pw:pw + w] = layout
        else:
            xpad = np.zeros((n, h + 2 * ph, w + 2 * pw, c), dtype=x.dtype)
            xpad[:, ph:ph + h, pw:pw + w, :] = layout
        return xpad

    def _samples(self, xpad: np.ndarray, block: slice) -> np.ndarray:
        """The samples ``block`` of a padded input in either layout."""
        return xpad[:, block] if self._few_channels else xpad[block]

    def _padded_shape(self, xpad: np.ndarray) -> tuple[int, int, int]:
        """(N, Hp, Wp) of a padded input in either layout."""
        return xpad.shape[1:] if self._few_channels else xpad.shape[:3]

    def _out_hw(self, hp: int, wp: int) -> tuple[int, int]:
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        return output_size(hp, kh, sh, 0), output_size(wp, kw, sw, 0)

    def _im2col(self, xpad: np.ndarray) -> np.ndarray:
        """A block's padded input -> its patch matrix cols (B·Ho·Wo, K), rows in Wmat's order."""
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        if self._few_channels:  # (C, B, Hp, Wp): copy colsᵀ (K, B·Ho·Wo) and return its transpose
            windows = sliding_window_view(xpad, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]  # (C, B, Ho, Wo, kh, kw)
            return windows.transpose(0, 4, 5, 1, 2, 3).reshape(xpad.shape[0] * kh * kw, -1).T
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

    def _col2im_add_channels_first(self, dcols_t: np.ndarray, dxpad: np.ndarray) -> None:
        """Add patch gradients colsᵀ (K, B·Ho·Wo) in (c, p, q) order back into dxpad (C, B, Hp, Wp)."""
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        c, b, hp, wp = dxpad.shape
        ho, wo = self._out_hw(hp, wp)
        dcols_t = dcols_t.reshape(c, kh, kw, b, ho, wo)
        for p in range(kh):
            for q in range(kw):
                dxpad[:, :, p:p + sh * (ho - 1) + 1:sh, q:q + sw * (wo - 1) + 1:sw] += dcols_t[:, p, q]

    def _blocks(self, rows: np.ndarray, ho: int, wo: int) -> list:
        """Slices of the samples (``rows``' first axis) whose patch matrices are about _BLOCK_BYTES each."""
        kh, kw = self.kernel_size
        return sample_blocks(rows, ho * wo * kh * kw * self.in_channels * self.weight.data.itemsize)

    # -- forward / backward ------------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        check_input(self, x, (None, self.in_channels, None, None), self.weight.dtype)
        check_window_fits(self, x, self.kernel_size, self.padding)
        if direct_conv.supports(self) and (direct := direct_conv.forward(self, x)) is not None:
            y, saved = direct  # compiled kernel (nn/kernels); the code below is the reference
            self._xpad = saved if self.training else None
            return y
        xpad = self._pad(x)
        n, hp, wp = self._padded_shape(xpad)
        ho, wo = self._out_hw(hp, wp)
        wmat = self._weight_matrix()
        y = np.empty((n, ho * wo, self.out_channels), dtype=x.dtype)  # channels-last output rows
        # b tiled along a row of Wo pixels: adding it, NumPy's inner loop runs over Wo·O values, not O
        bias_row = np.tile(self.bias.data, wo) if self.bias is not None else None

        def forward_block(block):  # y rows of these samples = cols @ Wmat + b
            rows = y[block].reshape(-1, self.out_channels)
            np.matmul(self._im2col(self._samples(xpad, block)), wmat, out=rows)
            if bias_row is not None:
                rows.reshape(-1, wo * self.out_channels)[...] += bias_row

        run_blocks(forward_block, self._blocks(y, ho, wo))
        self._xpad = xpad if self.training else None
        return y.reshape(n, ho, wo, self.out_channels).transpose(0, 3, 1, 2)

    can_skip_input_grad = True

    def backward(self, grad_output: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dL/dW and dL/db accumulate; dL/dx is returned unless input_grad=False (first layer)."""
        xpad = self._saved(self._xpad)
        if isinstance(xpad, direct_conv.Saved):
            return direct_conv.backward(self, xpad, grad_output, input_grad)
        n, hp, wp = self._padded_shape(xpad)
        ho, wo = self._out_hw(hp, wp)
        check_grad_output(self, grad_output, (n, self.out_channels, ho, wo))
        g = np.ascontiguousarray(grad_output.transpose(0, 2, 3, 1)).reshape(n, ho * wo, self.out_channels)
        kh, kw = self.kernel_size
        few = self._few_channels
        wmat = self._weight_matrix()
        dxpad = np.zeros_like(xpad) if input_grad else None
        if input_grad and not few:  # (kh·kw, O, C): W[:, :, p, q] for each kernel offset
            w_per_offset = self.weight.data.transpose(2, 3, 0, 1).reshape(kh * kw, self.out_channels, -1)

        def backward_block(block):  # this block's shares of dL/dWmat and dL/db; its dL/dx goes into dxpad
            g_rows = g[block].reshape(-1, self.out_channels)
            if dxpad is not None and few:
                self._col2im_add_channels_first(wmat @ g_rows.T, dxpad[:, block])
            elif dxpad is not None:
                self._col2im_add(np.matmul(g_rows, w_per_offset), dxpad[block])
            cols = self._im2col(self._samples(xpad, block))
            ones = np.ones(len(g_rows), g_rows.dtype)  # Σ_rows g as a GEMV: sum(axis=0) loops over O values at a time
            return cols.T @ g_rows, ones @ g_rows

        partial = run_blocks(backward_block, self._blocks(g, ho, wo))
        grad_wmat = sum((w for w, _ in partial), np.zeros_like(wmat))
        self.weight.accumulate(self._weight_grad(grad_wmat))
        if self.bias is not None:
            self.bias.accumulate(sum((b for _, b in partial), np.zeros(self.out_channels, dtype=xpad.dtype)))
        if dxpad is None:
            return None
        ph, pw = self.padding
        if few:
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
