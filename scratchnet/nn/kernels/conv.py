"""Conv2d on the direct-convolution kernels of ``conv_loops.py``: the layer's dispatch target.

``Conv2d.forward`` asks ``supports(layer)``; when it says yes (and the kernels are enabled) the
layer calls ``forward`` here and, in backward, ``backward`` with what forward saved. These
functions only lay the arrays out as the loops want them (channels-first planes, zero padding,
the output on the padded grid's width) and accumulate the gradients as the reference does.

Which convolutions: stride 1, zero padding, no dilation or groups, and at most
MAX_OUT_CHANNELS output channels, where im2col's GEMM is only a few columns wide (LeNet-5's
first layer, 3→6 5×5). Measured on one thread of this project's 2-core machine (under load
from other work), per layer at batch 64-128, reference against kernel in ms:

    3→6 5×5 on 32×32      forward 2.03 / 1.02   forward + weight gradient 4.36 / 2.77
    6→16 5×5 on 14×14     forward 0.46 / 1.63   (a 150×16 GEMM is wide enough for BLAS)
    1→32 3×3 on 28×28     forward 1.00 / 1.19
    3→16 3×3 on 32×32     forward 2.37 / 3.00

The loops stream each input plane through the cache once per (channel, kernel row) (before
2 December 2026: once per kernel offset, the figures above), near one SIMD multiply-add per
cycle, which a GEMM of 16 or more columns beats. Taking a whole kernel row per pass made the
3→6 5×5 forward about 2× faster (0.8–1.1 ms against 1.5–2.4 ms at batch 64 on 2 threads, a
Zen 3 machine without AVX-512).
"""
from __future__ import annotations

import numpy as np

from .._utils import check_grad_output
from . import enabled, ready, run

_LOOPS = "conv_loops"
MAX_OUT_CHANNELS = 8  # up to this many filters the direct loops beat im2col's GEMM (measured)


def supports(layer) -> bool:
    """True when ``layer`` (a Conv2d) should run on the direct kernels now."""
    return (enabled() and layer.stride == (1, 1)
            and layer.out_channels <= MAX_OUT_CHANNELS
            and getattr(layer, "dilation", (1, 1)) == (1, 1) and getattr(layer, "groups", 1) == 1
            and getattr(layer, "padding_mode", "zeros") == "zeros" and isinstance(layer.padding, tuple))


class Saved:
    """What forward keeps for backward: the padded input planes (N, C, Hp·Wp) and the grid's shape."""

    __slots__ = ("xpad", "hp", "wp")

    def __init__(self, xpad: np.ndarray, hp: int, wp: int):
        self.xpad, self.hp, self.wp = xpad, hp, wp


def _warm_up(dtype) -> None:
    """Each kernel once on a 1-sample, 1-channel, 1×4 image (compiles them, or loads them from the cache)."""
    planes, weight = np.zeros((1, 1, 4), dtype), np.zeros((1, 1, 1, 1), dtype)
    run(_LOOPS, "conv2d_forward", planes, weight, np.zeros(1, dtype), 2, np.zeros_like(planes))
    run(_LOOPS, "conv2d_backward_weight", planes, planes, 2, np.zeros_like(weight))
    run(_LOOPS, "conv2d_backward_input", planes, weight, 2, np.zeros_like(planes))


def forward(layer, x: np.ndarray):
    """(y, Saved) for ``layer(x)``, or None when Numba cannot compile here (then run the reference)."""
    if not ready(_LOOPS, x.dtype, _warm_up):
        return None
    (ph, pw), (kh, kw) = layer.padding, layer.kernel_size
    n, c, h, w = x.shape
    hp, wp = h + 2 * ph, w + 2 * pw
    ho, wo = hp - kh + 1, wp - kw + 1
    xpad = np.zeros((n, c, hp, wp), dtype=x.dtype)
    xpad[:, :, ph:ph + h, pw:pw + w] = x
    xpad = xpad.reshape(n, c, hp * wp)
    weight = layer.weight.data
    bias = layer.bias.data if layer.bias is not None else np.zeros(layer.out_channels, weight.dtype)
    out = np.empty((n, layer.out_channels, ho * wp), dtype=x.dtype)
    run(_LOOPS, "conv2d_forward", xpad, weight, bias, wp, out)
    y = out.reshape(n, layer.out_channels, ho, wp)[:, :, :, :wo]  # the valid columns, a view
    return y, Saved(xpad, hp, wp)


def backward(layer, saved: Saved, grad_output: np.ndarray, input_grad: bool) -> np.ndarray | None:
    """Accumulate dL/dW and dL/db into ``layer``; return dL/dx unless ``input_grad`` is False."""
    (ph, pw), (kh, kw) = layer.padding, layer.kernel_size
    n, c, hp, wp = saved.xpad.shape[0], layer.in_channels, saved.hp, saved.wp
    ho, wo = hp - kh + 1, wp - kw + 1
    check_grad_output(layer, grad_output, (n, layer.out_channels, ho, wo))
    grad = np.zeros((n, layer.out_channels, ho, wp), dtype=saved.xpad.dtype)
    grad[:, :, :, :wo] = grad_output  # the junk columns stay zero: they add nothing below
    grad = grad.reshape(n, layer.out_channels, ho * wp)
    dweight = np.zeros_like(layer.weight.data)
    run(_LOOPS, "conv2d_backward_weight", saved.xpad, grad, wp, dweight)
    layer.weight.accumulate(dweight)
    if layer.bias is not None:
        layer.bias.accumulate(grad.sum(axis=(0, 2)))
    if not input_grad:
        return None
    dxpad = np.empty_like(saved.xpad)
    run(_LOOPS, "conv2d_backward_input", grad, layer.weight.data, wp, dxpad)
    return dxpad.reshape(n, c, hp, wp)[:, :, ph:hp - ph, pw:wp - pw]
