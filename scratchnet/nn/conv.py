"""2-D convolution (``torch.nn.Conv2d``) by im2col and one matrix product per block of samples.

Notation: input x (N, C, H, W), G groups, weight W (O, C/G, kh, kw), bias b (O,), stride
(sh, sw), dilation (dh, dw), zero padding (top, bottom) and (left, right) (equal unless
``padding="same"`` with an even kernel extent); the padded input is (N, C, Hp, Wp) and the
output y is (N, O, Ho, Wo) with Ho = (Hp - dh·(kh - 1) - 1) // sh + 1 (PyTorch's floor), Wo alike.
Input channel c and output channel o belong to group c // (C/G) and o // (O/G):

    y[n, o, i, j] = b[o] + Σ_{c in o's group, p, q} W[o, c mod C/G, p, q] · xpad[n, c, i·sh + p·dh, j·sw + q·dw]

im2col turns this sum into one matrix product per group, batched over a group axis
(G = 1 for an ordinary convolution), with K = (C/G)·kh·kw:

    cols  (G, N·Ho·Wo, K)   row (n, i, j) of group g = the receptive field of output pixel (n, i, j)
                             in g's input channels
    Wmat  (G, K, O/G)       the same K weights of every filter of the group, in the same order
    y     (N·Ho·Wo, O)    = cols @ Wmat + b, group g filling columns g·O/G ... (g+1)·O/G - 1

Grouped and depthwise (G = C) convolutions are thus the same few whole-array operations as a
dense one, never a Python loop over groups. The patch matrix is copied in whichever layout
makes the copy run over long rows:

    many channels (C > 4): channels-last input (N, Hp, Wp, C), rows in (p, q, c) order: a
        row is kh·kw contiguous runs of C/G floats, one receptive field.
    few channels (C <= 4: grey or RGB images): channels-first input (C, N, Hp, Wp), and the
        matrix is built transposed, colsᵀ (G, K, N·Ho·Wo) in (c, p, q) order: a row of colsᵀ is
        one shifted image, runs of Wo floats instead of runs of 1 to 3 (6x faster for C = 1,
        measured). The GEMM reads cols = (colsᵀ)ᵀ as a transposed view, without a copy.

Backward, with g = dL/dy laid out like y as (N·Ho·Wo, O), seen per group as (G, N·Ho·Wo, O/G):

    dL/dWmat = colsᵀ @ g            (G, K, O/G)  -> reshaped back to (O, C/G, kh, kw)
    dL/db    = Σ_rows g             (O,)
    dL/dcols = g @ Wmatᵀ; dL/dx = col2im(dL/dcols): each patch entry is added back to the
               pixel it was copied from, one strided slice-add per kernel offset (p, q):
      many channels: per offset dcols[p, q] = g @ W[:, :, p, q]  (kh·kw, N·Ho·Wo, C), one
               batched matmul, added into dxpad[:, p·dh::sh, q·dw::sw, :] (rows of Wo·C floats);
      few channels: the products (N·Ho·Wo, C) would be too thin for BLAS, so it is one GEMM
               per group dcolsᵀ = Wmat @ gᵀ (G, K, N·Ho·Wo), added into the channels-first
               dxpad[c, :, p·dh::sh, q·dw::sw] (rows of Wo floats).

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
from .padding import fold_border, widest_copied_border
from .parallel import run_blocks, sample_blocks

_FEW_CHANNELS = 4  # up to this many input channels, the patch matrix is built channels-first (measured)
_PADDING_STRINGS = ("same", "valid")
# torch's padding modes and the np.pad mode that fills the border the same way
PADDING_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _positive_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0


class Conv2d(Module):
    """``torch.nn.Conv2d``: (N, C, H, W) -> (N, O, Ho, Wo), or unbatched (C, H, W) -> (O, Ho, Wo).

    ``kernel_size``, ``stride``, ``dilation`` and ``padding`` are ints or (height, width)
    pairs; ``padding`` may also be ``"valid"`` (none) or ``"same"`` (output as large as the
    input, stride 1 only; an even kernel extent pads one more at the bottom and right, as
    torch does). ``groups`` splits the channels into that many independent convolutions;
    ``groups == in_channels`` is a depthwise convolution. The weight (out_channels,
    in_channels / groups, kh, kw) and bias (out_channels,) start as in PyTorch:
    U(±1/√fan_in) with fan_in = in_channels / groups · kh · kw. ``padding_mode`` ("zeros", "reflect",
    "replicate" or "circular", as in torch) fills the padding with zeros or with copies of the input's
    own pixels; backward then adds each border cell's gradient to the pixel it copied. See the
    module docstring for the math.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", dtype=np.float32, generator=None):
        super().__init__()
        if not (_positive_int(in_channels) and _positive_int(out_channels)):
            raise ValueError(f"Conv2d needs positive channel counts, got in_channels={in_channels!r}, "
                             f"out_channels={out_channels!r}")
        if not _positive_int(groups) or in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: groups={groups!r} must be a positive int dividing both in_channels="
                             f"{in_channels} and out_channels={out_channels}")
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), int(groups)
        self.kernel_size = as_pair(kernel_size, "kernel_size", 1)
        self.stride = as_pair(stride, "stride", 1)
        self.dilation = as_pair(dilation, "dilation", 1)
        if isinstance(padding, str):
            if padding not in _PADDING_STRINGS:
                raise ValueError(f"Conv2d: padding must be 'same', 'valid', an int or a pair, got {padding!r}")
            if padding == "same" and self.stride != (1, 1):
                raise ValueError(f"Conv2d: padding='same' needs stride 1 (as in torch), got stride={stride!r}; "
                                 "give the padding as numbers instead")
            self.padding = padding
        else:
            self.padding = as_pair(padding, "padding", 0)
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"Conv2d: padding_mode must be one of {', '.join(PADDING_MODES)}, got {padding_mode!r}")
        self.padding_mode = padding_mode
        kh, kw = self.kernel_size
        self.weight = Parameter(np.empty((out_channels, in_channels // groups, kh, kw), dtype=dtype))
        self.bias = Parameter(np.empty(out_channels, dtype=dtype)) if bias else None
        init.default_weight_and_bias_(self.weight, self.bias, generator)
        self._state = None  # (the padded input in _pad's layout, whether x was unbatched), kept for backward

    # -- helpers --------------------------------------------------------------------
    @property
    def _few_channels(self) -> bool:
        """Few channels per group: a channels-last patch row would be short runs of C/G floats."""
        return self.in_channels // self.groups <= _FEW_CHANNELS and not self._depthwise

    @property
    def _depthwise(self) -> bool:
        """One input channel per group (groups == in_channels), many channels: computed per kernel offset
        on channels-last memory, no patch matrix (with few channels, im2col's channels-first path is faster)."""
        return self.groups == self.in_channels > _FEW_CHANNELS

    @property
    def _pads(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """((top, bottom), (left, right)) zero padding: torch's split for "same", else symmetric."""
        if self.padding == "valid":
            return (0, 0), (0, 0)
        if self.padding == "same":
            totals = [d * (k - 1) for k, d in zip(self.kernel_size, self.dilation)]
            return tuple((t // 2, t - t // 2) for t in totals)
        return tuple((p, p) for p in self.padding)

    def _group_shape(self) -> tuple[int, int, int]:
        """(G, C/G, O/G)."""
        g = self.groups
        return g, self.in_channels // g, self.out_channels // g

    def _weight_matrix(self) -> np.ndarray:
        """Wmat (G, K, O/G): rows in (c, p, q) order for few channels, (p, q, c) for many."""
        g, cg, og = self._group_shape()
        kh, kw = self.kernel_size
        w = self.weight.data.reshape(g, og, cg, kh, kw)
        if self._few_channels:
            return w.reshape(g, og, -1).transpose(0, 2, 1)
        return w.transpose(0, 3, 4, 2, 1).reshape(g, -1, og)

    def _weight_grad(self, grad_wmat: np.ndarray) -> np.ndarray:
        """dL/dWmat (G, K, O/G) back to the weight's layout (O, C/G, kh, kw), contiguous."""
        g, cg, og = self._group_shape()
        kh, kw = self.kernel_size
        if self._few_channels:
            return np.ascontiguousarray(grad_wmat.transpose(0, 2, 1)).reshape(self.weight.data.shape)
        grad = grad_wmat.reshape(g, kh, kw, cg, og).transpose(0, 4, 3, 1, 2)
        return np.ascontiguousarray(grad).reshape(self.weight.data.shape)

    def _border_widths(self) -> list[tuple[int, int]]:
        """np.pad's widths for _pad's layout: (C, N, Hp, Wp) for few channels, (N, Hp, Wp, C) for many."""
        widths = [(0, 0)] * 4
        h_axis, w_axis = (2, 3) if self._few_channels else (1, 2)
        widths[h_axis], widths[w_axis] = self._pads
        return widths

    def _pad(self, x: np.ndarray) -> np.ndarray:
        """(N, C, H, W) -> padded contiguous (C, N, Hp, Wp) for few channels, (N, Hp, Wp, C) for many.

        padding_mode fills the border as torch does: zeros, or copies of x's own pixels: mirrored
        without the edge ("reflect"), the edge repeated ("replicate"), or the far side ("circular")."""
        (top, bottom), (left, right) = self._pads
        few = self._few_channels
        layout = x.transpose(1, 0, 2, 3) if few else x.transpose(0, 2, 3, 1)
        if top == bottom == left == right == 0:
            return np.ascontiguousarray(layout)  # no copy when x already has this layout
        if self.padding_mode != "zeros":
            self._check_border(x.shape[2:])
            return np.pad(layout, self._border_widths(), mode=PADDING_MODES[self.padding_mode])
        n, c, h, w = x.shape
        hp, wp = h + top + bottom, w + left + right
        if few:
            xpad = np.zeros((c, n, hp, wp), dtype=x.dtype)
            xpad[:, :, top:top + h, left:left + w] = layout
        else:
            xpad = np.zeros((n, hp, wp, c), dtype=x.dtype)
            xpad[:, top:top + h, left:left + w, :] = layout
        return xpad

    def _check_border(self, hw: tuple[int, int]) -> None:
        """torch's limits: a reflected border must be narrower than the image, a circular one at most as wide."""
        for (before, after), size, axis in zip(self._pads, hw, ("height", "width")):
            widest = widest_copied_border(size, PADDING_MODES[self.padding_mode])
            if widest is not None and max(before, after) > widest:
                raise ValueError(f"{self!r}: padding {max(before, after)} is too wide for padding_mode="
                                 f"{self.padding_mode!r} on an input of {axis} {size}; use less padding or "
                                 "padding_mode='replicate'")

    def _unpad(self, dxpad: np.ndarray) -> np.ndarray:
        """dL/dxpad in _pad's layout -> dL/dx (N, C, H, W), a view."""
        (top, bottom), (left, right) = self._pads
        if self.padding_mode != "zeros" and top + bottom + left + right:
            dx = fold_border(dxpad, self._border_widths(), PADDING_MODES[self.padding_mode])
            return dx.transpose(1, 0, 2, 3) if self._few_channels else dx.transpose(0, 3, 1, 2)
        if self._few_channels:
            c, n, hp, wp = dxpad.shape
            return dxpad[:, :, top:hp - bottom, left:wp - right].transpose(1, 0, 2, 3)
        n, hp, wp, c = dxpad.shape
        return dxpad[:, top:hp - bottom, left:wp - right, :].transpose(0, 3, 1, 2)

    def _samples(self, xpad: np.ndarray, block: slice) -> np.ndarray:
        """The samples ``block`` of a padded input in either layout."""
        return xpad[:, block] if self._few_channels else xpad[block]

    def _padded_shape(self, xpad: np.ndarray) -> tuple[int, int, int]:
        """(N, Hp, Wp) of a padded input in either layout."""
        return xpad.shape[1:] if self._few_channels else xpad.shape[:3]

    def _out_hw(self, hp: int, wp: int) -> tuple[int, int]:
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
        return output_size(hp, kh, sh, 0, dh), output_size(wp, kw, sw, 0, dw)

    def _windows(self, xpad: np.ndarray, axes: tuple[int, int]) -> np.ndarray:
        """Every receptive field of the padded input as a view: its axes ``axes`` become (Ho, Wo), plus (kh, kw) last."""
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
        extent = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
        windows = sliding_window_view(xpad, extent, axis=axes)
        index = [slice(None)] * windows.ndim
        index[axes[0]], index[axes[1]] = slice(None, None, sh), slice(None, None, sw)
        index[-2], index[-1] = slice(None, None, dh), slice(None, None, dw)
        return windows[tuple(index)]

    def _im2col(self, xpad: np.ndarray) -> np.ndarray:
        """A block's padded input -> its patch matrix cols (G, B·Ho·Wo, K), rows in Wmat's order."""
        g, cg, _ = self._group_shape()
        kh, kw = self.kernel_size
        if self._few_channels:  # (C, B, Hp, Wp): copy colsᵀ (G, K, B·Ho·Wo) and return its transpose
            windows = self._windows(xpad, (2, 3))  # (C, B, Ho, Wo, kh, kw)
            return windows.transpose(0, 4, 5, 1, 2, 3).reshape(g, cg * kh * kw, -1).transpose(0, 2, 1)
        windows = self._windows(xpad, (1, 2))  # (B, Ho, Wo, C, kh, kw)
        b, ho, wo = windows.shape[:3]
        windows = windows.reshape(b, ho, wo, g, cg, kh, kw)
        return windows.transpose(3, 0, 1, 2, 5, 6, 4).reshape(g, b * ho * wo, kh * kw * cg)

    def _kernel_offsets(self, ho: int, wo: int):
        """Yield (p, q, rows, cols): the slices of the padded input that kernel offset (p, q) reads."""
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
        for p in range(kh):  # one vectorised add per kernel offset (e.g. 9 for 3x3)
            for q in range(kw):
                yield p, q, slice(p * dh, p * dh + sh * (ho - 1) + 1, sh), slice(q * dw, q * dw + sw * (wo - 1) + 1, sw)

    def _col2im_add(self, dcols: np.ndarray, dxpad: np.ndarray) -> None:
        """Add patch gradients (kh·kw, B·Ho·Wo, C) back into their pixels of dxpad (B, Hp, Wp, C)."""
        kh, kw = self.kernel_size
        b, hp, wp, c = dxpad.shape
        ho, wo = self._out_hw(hp, wp)
        dcols = dcols.reshape(kh, kw, b, ho, wo, c)
        for p, q, rows, cols in self._kernel_offsets(ho, wo):
            dxpad[:, rows, cols, :] += dcols[p, q]

    def _col2im_add_channels_first(self, dcols_t: np.ndarray, dxpad: np.ndarray) -> None:
        """Add patch gradients colsᵀ (K·G, B·Ho·Wo) in (c, p, q) order back into dxpad (C, B, Hp, Wp)."""
        kh, kw = self.kernel_size
        c, b, hp, wp = dxpad.shape
        ho, wo = self._out_hw(hp, wp)
        dcols_t = dcols_t.reshape(c, kh, kw, b, ho, wo)
        for p, q, rows, cols in self._kernel_offsets(ho, wo):
            dxpad[:, :, rows, cols] += dcols_t[:, p, q]

    def _blocks(self, rows: np.ndarray, ho: int, wo: int) -> list:
        """Slices of the samples (``rows``' first axis) whose patch matrices are about _BLOCK_BYTES each."""
        kh, kw = self.kernel_size
        return sample_blocks(rows, ho * wo * kh * kw * self.in_channels * self.weight.data.itemsize)

    def _batched(self, x) -> tuple[np.ndarray, bool]:
        """x checked, as (N, C, H, W), and whether it came unbatched as (C, H, W)."""
        unbatched = isinstance(x, np.ndarray) and x.ndim == 3
        expected = (self.in_channels, None, None) if unbatched else (None, self.in_channels, None, None)
        check_input(self, x, expected, self.weight.dtype)
        check_window_fits(self, x, self.kernel_size, self._pads, self.dilation)
        return (x[None] if unbatched else x), unbatched

    def _by_group(self, rows: np.ndarray) -> np.ndarray:
        """(R, O) rows of y or g -> the (G, R, O/G) view of their columns group by group."""
        g, _, og = self._group_shape()
        return rows.reshape(len(rows), g, og).transpose(1, 0, 2)

    # -- forward / backward ------------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        x, unbatched = self._batched(x)
        if direct_conv.supports(self) and (direct := direct_conv.forward(self, x)) is not None:
            y, saved = direct  # compiled kernel (nn/kernels); the code below is the reference
        else:
            saved = xpad = self._pad(x)
            ho, wo = self._out_hw(*self._padded_shape(xpad)[1:])
            y = self._depthwise_forward(xpad, ho, wo) if self._depthwise else self._im2col_forward(xpad, ho, wo)
        y = y[0] if unbatched else y
        self._state = (saved, unbatched, y.shape) if self.keeps_state else None
        return y

    def _im2col_forward(self, xpad: np.ndarray, ho: int, wo: int) -> np.ndarray:
        """y (N, O, Ho, Wo) as a view of channels-last rows: cols @ Wmat + b, block by block."""
        n = self._padded_shape(xpad)[0]
        wmat = self._weight_matrix()
        y = np.empty((n, ho * wo, self.out_channels), dtype=xpad.dtype)  # channels-last output rows
        # b tiled along a row of Wo pixels: adding it, NumPy's inner loop runs over Wo·O values, not O
        bias_row = np.tile(self.bias.data, wo) if self.bias is not None else None

        def forward_block(block):  # y rows of these samples = cols @ Wmat + b
            rows = y[block].reshape(-1, self.out_channels)
            np.matmul(self._im2col(self._samples(xpad, block)), wmat, out=self._by_group(rows))
            if bias_row is not None:
                rows.reshape(-1, wo * self.out_channels)[...] += bias_row

        run_blocks(forward_block, self._blocks(y, ho, wo))
        return y.reshape(n, ho, wo, self.out_channels).transpose(0, 3, 1, 2)

    def _depthwise_weight_rows(self, wo: int) -> np.ndarray:
        """(kh, kw, Wo, C, m): W[c·m + k, 0, p, q] repeated along a row of Wo pixels, so that with stride 1
        NumPy's inner loop runs over a whole contiguous row of Wo·C·m values instead of C·m."""
        c = self.in_channels
        w = self.weight.data.reshape(c, self.out_channels // c, *self.kernel_size).transpose(2, 3, 0, 1)
        return np.ascontiguousarray(np.broadcast_to(w[:, :, None], (*w.shape[:2], wo, *w.shape[2:])))

    def _depthwise_forward(self, xpad: np.ndarray, ho: int, wo: int) -> np.ndarray:
        """y (N, O, Ho, Wo) as a view of channels-last memory, one multiply-add per kernel offset."""
        n, c = xpad.shape[0], xpad.shape[3]
        m = self.out_channels // c
        w = self._depthwise_weight_rows(wo)
        y = np.empty((n, ho, wo, c, m), dtype=xpad.dtype)  # output channel c·m + k at y[..., c, k]

        def forward_block(block):  # y[..., c, k] = Σ_{p,q} W[c·m + k, 0, p, q] · xpad[:, p·dh::sh, q·dw::sw, c] + b
            out = y[block]
            term = np.empty_like(out)
            for i, (p, q, rows, cols) in enumerate(self._kernel_offsets(ho, wo)):
                np.multiply(xpad[block, rows, cols, :, None], w[p, q], out=term if i else out)
                if i:
                    out += term
            if self.bias is not None:
                out += self.bias.data.reshape(c, m)

        run_blocks(forward_block, sample_blocks(y))
        return y.reshape(n, ho, wo, self.out_channels).transpose(0, 3, 1, 2)

    can_skip_input_grad = True

    def backward(self, grad_output: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dL/dW and dL/db accumulate; dL/dx is returned unless input_grad=False (first layer)."""
        saved, unbatched, y_shape = self._saved(self._state)
        check_grad_output(self, grad_output, y_shape)
        grad_output = grad_output[None] if unbatched else grad_output
        if isinstance(saved, direct_conv.Saved):  # forward ran on the compiled kernel
            dx = direct_conv.backward(self, saved, grad_output, input_grad)
        else:
            backward = self._depthwise_backward if self._depthwise else self._im2col_backward
            dxpad = backward(saved, grad_output, *grad_output.shape[2:], input_grad)
            dx = None if dxpad is None else self._unpad(dxpad)
        return dx[0] if unbatched and dx is not None else dx

    def _im2col_backward(self, xpad: np.ndarray, grad_output: np.ndarray, ho: int, wo: int,
                         input_grad: bool) -> np.ndarray | None:
        """Accumulate dL/dW, dL/db block by block; return dL/dxpad (or None)."""
        n = self._padded_shape(xpad)[0]
        g = np.ascontiguousarray(grad_output.transpose(0, 2, 3, 1)).reshape(n, ho * wo, self.out_channels)
        groups, cg, og = self._group_shape()
        kh, kw = self.kernel_size
        few = self._few_channels
        wmat = self._weight_matrix()
        dxpad = np.zeros_like(xpad) if input_grad else None
        if input_grad and not few:  # (kh·kw, G, O/G, C/G): W[:, :, p, q] for each kernel offset, by group
            w_per_offset = self.weight.data.reshape(groups, og, cg, kh * kw).transpose(3, 0, 1, 2)

        def backward_block(block):  # this block's shares of dL/dWmat and dL/db; its dL/dx goes into dxpad
            g_rows = g[block].reshape(-1, self.out_channels)
            g_groups = self._by_group(g_rows)  # (G, R, O/G)
            if dxpad is not None and few:
                dcols_t = wmat @ g_groups.transpose(0, 2, 1)  # (G, K, R)
                self._col2im_add_channels_first(dcols_t.reshape(-1, len(g_rows)), dxpad[:, block])
            elif dxpad is not None:  # (kh·kw, G, R, C/G) -> (kh·kw, R, C)
                dcols = np.matmul(g_groups, w_per_offset).transpose(0, 2, 1, 3)
                self._col2im_add(dcols.reshape(kh * kw, len(g_rows), self.in_channels), dxpad[block])
            ones = np.ones(len(g_rows), g_rows.dtype)  # Σ_rows g as a GEMV: sum(axis=0) loops over O values at a time
            if not self.weight.requires_grad:  # frozen: no patch matrix, no dL/dW
                return None, ones @ g_rows
            cols = self._im2col(self._samples(xpad, block))
            return cols.transpose(0, 2, 1) @ g_groups, ones @ g_rows

        partial = run_blocks(backward_block, self._blocks(g, ho, wo))
        if self.weight.requires_grad:
            self.weight.accumulate(self._weight_grad(sum((w for w, _ in partial), np.zeros_like(wmat))))
        if self.bias is not None:
            self.bias.accumulate(sum((b for _, b in partial), np.zeros(self.out_channels, dtype=xpad.dtype)))
        return dxpad

    def _depthwise_backward(self, xpad: np.ndarray, grad_output: np.ndarray, ho: int, wo: int,
                            input_grad: bool) -> np.ndarray | None:
        """Per kernel offset (p, q), with g[..., c, k] = dL/dy of output channel c·m + k and
        x_pq = xpad[:, p·dh::sh, q·dw::sw, c]: dL/dW[c·m + k, 0, p, q] = Σ g[..., c, k] · x_pq,
        dL/dx_pq += Σ_k W[c·m + k, 0, p, q] · g[..., c, k], and dL/db = Σ g."""
        n, c = xpad.shape[0], xpad.shape[3]
        m = self.out_channels // c
        g = grad_output.transpose(0, 2, 3, 1).reshape(n, ho, wo, c, m)
        w = self._depthwise_weight_rows(wo)
        dxpad = np.zeros_like(xpad) if input_grad else None

        def backward_block(block):
            g_block = g[block]
            grad_w = np.einsum("nijck,nijcpq->ckpq", g_block, self._windows(xpad[block], (1, 2)))
            if dxpad is not None:
                product = np.empty_like(g_block)
                for p, q, rows, cols in self._kernel_offsets(ho, wo):
                    np.multiply(g_block, w[p, q], out=product)
                    dxpad[block, rows, cols] += product[..., 0] if m == 1 else product.sum(axis=-1)
            return grad_w, g_block.sum(axis=(0, 1, 2))

        partial = run_blocks(backward_block, sample_blocks(g))
        self.weight.accumulate(sum(w for w, _ in partial).reshape(self.weight.data.shape))
        if self.bias is not None:
            self.bias.accumulate(sum(b for _, b in partial).reshape(self.out_channels))
        return dxpad

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding != (0, 0):
            text += f", padding={self.padding!r}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode}"  # unquoted, as torch prints it
        return text
