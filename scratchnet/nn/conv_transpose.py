"""Transposed 2-D convolution (``torch.nn.ConvTranspose2d``): the adjoint of Conv2d.

Notation: input x (N, C, H, W), G groups, weight W (C, O/G, kh, kw) (torch's layout: input
channels first), stride s, padding p, dilation d, output_padding a (per axis). Each input
pixel scatters its channels, weighted, over a kh x kw window of the output:

    yfull[n, o, i·s + u·d, j·s + v·d] += Σ_{c in o's group} W[c, o mod O/G, u, v] · x[n, c, i, j]
    y = yfull[:, :, p : p + Ho, p : p + Wo] + b,   Ho = (H - 1)·s - 2p + d·(kh - 1) + a + 1

(rows past yfull, which output_padding can ask for, are 0 + b). This is exactly dL/dinput of a
Conv2d(O, C, k, s, dilation=d, groups=G) with the same weight array, so backward is that
convolution's forward and weight gradient, with g = dL/dy zero-padded back to yfull's size:

    dL/dx = Conv2d(gfull; W)                                 (N, C, H, W)
    dL/dW = that Conv2d's weight gradient for input gfull and output gradient x
    dL/db = Σ g over (n, i, j)

Forward is one matrix product per group (x as rows (N·H·W, C) times W as (C, O/G·kh·kw)) and
one strided add per kernel offset, block by block over the samples like Conv2d.
"""
from __future__ import annotations

import numpy as np

from . import init
from ._utils import as_pair, check_grad_output, check_input
from .conv import Conv2d
from .module import Module, Parameter
from .parallel import run_blocks, sample_blocks


class ConvTranspose2d(Module):
    """``torch.nn.ConvTranspose2d``: (N, C, H, W) -> (N, O, Ho, Wo), or unbatched (C, H, W) -> (O, Ho, Wo).

    ``kernel_size``, ``stride``, ``padding``, ``output_padding`` and ``dilation`` are ints or
    (height, width) pairs; ``output_padding`` (< stride or dilation) picks among the output sizes
    a strided Conv2d maps to the same input size. Weight (in_channels, out_channels / groups,
    kh, kw) and bias start as in torch: U(±1/√fan_in) with fan_in = out_channels / groups · kh · kw.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, dtype=np.float32, generator=None):
        super().__init__()
        ints = all(isinstance(v, (int, np.integer)) and v > 0 for v in (in_channels, out_channels, groups))
        if not ints or in_channels % groups or out_channels % groups:
            raise ValueError(f"ConvTranspose2d needs positive channel counts and groups dividing both, got "
                             f"in_channels={in_channels!r}, out_channels={out_channels!r}, groups={groups!r}")
        # The adjoint convolution (O -> C) validates channels and groups and does the backward pass.
        adjoint = Conv2d(out_channels, in_channels, kernel_size, stride, 0, dilation, groups, bias=False, dtype=dtype)
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), int(groups)
        self.kernel_size, self.stride, self.dilation = adjoint.kernel_size, adjoint.stride, adjoint.dilation
        self.padding = as_pair(padding, "padding", 0)
        self.output_padding = as_pair(output_padding, "output_padding", 0)
        if any(a >= max(s, d) for a, s, d in zip(self.output_padding, self.stride, self.dilation)):
            raise ValueError(f"ConvTranspose2d: output_padding {self.output_padding} must be smaller than stride "
                             f"{self.stride} or dilation {self.dilation} (as in torch)")
        self.weight = Parameter(np.empty((in_channels, out_channels // groups, *self.kernel_size), dtype=dtype))
        self.bias = Parameter(np.empty(out_channels, dtype=dtype)) if bias else None
        init.default_weight_and_bias_(self.weight, self.bias, generator)
        adjoint.weight = self.weight  # one Parameter: the adjoint's weight gradient is this layer's
        object.__setattr__(self, "_adjoint", adjoint)  # not a child: no state_dict keys of its own
        self._state = None

    def _full_hw(self, h: int, w: int) -> tuple[int, int]:
        """yfull's height and width: every position some input pixel reaches, (H - 1)·s + d·(k - 1) + 1."""
        return tuple((size - 1) * s + d * (k - 1) + 1
                     for size, k, s, d in zip((h, w), self.kernel_size, self.stride, self.dilation))

    def _out_hw(self, h: int, w: int) -> tuple[int, int]:
        return tuple(full - 2 * p + a for full, p, a in zip(self._full_hw(h, w), self.padding, self.output_padding))

    def _batched(self, x) -> tuple[np.ndarray, bool]:
        unbatched = isinstance(x, np.ndarray) and x.ndim == 3
        expected = (self.in_channels, None, None) if unbatched else (None, self.in_channels, None, None)
        check_input(self, x, expected, self.weight.dtype)
        ho, wo = self._out_hw(*x.shape[-2:])
        if ho < 1 or wo < 1:
            raise ValueError(f"{self!r}: input of shape {x.shape} gives an empty {ho}x{wo} output; use less padding")
        return (x[None] if unbatched else x), unbatched

    def forward(self, x: np.ndarray) -> np.ndarray:
        x, unbatched = self._batched(x)
        n, c, h, w = x.shape
        g, (kh, kw), o = self.groups, self.kernel_size, self.out_channels
        cg, og = c // g, o // g
        (ho, wo), (hf, wf) = self._out_hw(h, w), self._full_hw(h, w)
        (ph, pw), (sh, sw), (dh, dw) = self.padding, self.stride, self.dilation
        # yfull, channels-last, large enough for the cropped output too (output_padding may reach past it)
        yfull = np.zeros((n, max(hf, ph + ho), max(wf, pw + wo), o), dtype=x.dtype)
        wmat = self.weight.data.reshape(g, cg, og, kh, kw).transpose(0, 1, 3, 4, 2).reshape(g, cg, -1)
        rows = x.transpose(0, 2, 3, 1)  # (N, H, W, C)

        def forward_block(block):  # contributions (G, B·H·W, kh·kw·O/G), added per kernel offset
            b = len(range(n)[block])
            x_groups = rows[block].reshape(b * h * w, g, cg).transpose(1, 0, 2)
            contrib = np.matmul(x_groups, wmat).reshape(g, b, h, w, kh, kw, og)
            for u in range(kh):
                for v in range(kw):
                    target = yfull[block, u * dh:u * dh + sh * (h - 1) + 1:sh, v * dw:v * dw + sw * (w - 1) + 1:sw]
                    target += contrib[:, :, :, :, u, v].transpose(1, 2, 3, 0, 4).reshape(b, h, w, o)

        run_blocks(forward_block, sample_blocks(yfull))
        y = yfull[:, ph:ph + ho, pw:pw + wo]
        if self.bias is not None:
            y = y + self.bias.data
        self._state = (x, unbatched) if self.keeps_state else None
        y = y.transpose(0, 3, 1, 2)
        return y[0] if unbatched else y

    can_skip_input_grad = True

    def backward(self, grad_output: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dL/dW and dL/db accumulate; dL/dx is returned unless input_grad=False (first layer)."""
        x, unbatched = self._saved(self._state)
        n, _, h, w = x.shape
        (ho, wo), (hf, wf), (ph, pw) = self._out_hw(h, w), self._full_hw(h, w), self.padding
        check_grad_output(self, grad_output, ((n,) if not unbatched else ()) + (self.out_channels, ho, wo))
        g = grad_output[None] if unbatched else grad_output
        if self.bias is not None:
            self.bias.accumulate(g.sum(axis=(0, 2, 3)))
        gfull = np.zeros((n, self.out_channels, max(hf, ph + ho), max(wf, pw + wo)), dtype=g.dtype)
        gfull[:, :, ph:ph + ho, pw:pw + wo] = g
        adjoint = self._adjoint.train()
        dx = adjoint.forward(gfull[:, :, :hf, :wf])  # dL/dx = Conv2d(gfull; W), an (N, C, H, W) array
        adjoint.backward(x, input_grad=False)  # dL/dW into the shared weight
        adjoint._state = None
        if not input_grad:
            return None
        return dx[0] if unbatched else dx

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}")
        for name, default in (("padding", (0, 0)), ("output_padding", (0, 0)), ("dilation", (1, 1))):
            if getattr(self, name) != default:
                text += f", {name}={getattr(self, name)}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        return text + (", bias=False" if self.bias is None else "")
