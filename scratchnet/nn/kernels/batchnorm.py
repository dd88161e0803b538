"""BatchNorm1d/2d in training mode on the fused passes of ``batchnorm_loops.py``: the layer's dispatch target.

Which inputs: channels-last activations (what Conv2d returns: (N, C, H, W) indexing over
(N, H, W, C) memory) and contiguous (N, C) matrices, both viewed as rows of C channels without
a copy, with a gradient in the same layout. Other layouts (channels-first NCHW, (N, C, L))
and evaluation mode run the reference. The arithmetic is the reference's
(``nn/batchnorm.py``: biased batch variance, running statistics with PyTorch's unbiased
correction, the same saved state), so forward and backward may take either path.
"""
from __future__ import annotations

import numpy as np

from . import enabled, ready, run

_LOOPS = "batchnorm_loops"
CHUNKS = 64  # row chunks the sums are split into (fixed: the result does not depend on the threads)


def as_rows(a: np.ndarray) -> np.ndarray | None:
    """``a`` viewed as a contiguous (rows, C) matrix of channels, or None when its memory is not laid out so."""
    if a.ndim == 2 and a.flags.c_contiguous:
        return a
    if a.ndim == 4 and a.transpose(0, 2, 3, 1).flags.c_contiguous:
        return a.transpose(0, 2, 3, 1).reshape(-1, a.shape[1])
    return None


def supports(layer, x: np.ndarray) -> bool:
    return enabled() and layer.training and as_rows(x) is not None


def _warm_up(dtype) -> None:
    rows, vector = np.zeros((2, 1), dtype), np.zeros(1, dtype)
    run(_LOOPS, "channel_sums", rows, 1)
    run(_LOOPS, "center", rows, vector, np.zeros_like(rows), 1)
    run(_LOOPS, "scale_shift", rows, vector, vector, np.zeros_like(rows), 1)
    run(_LOOPS, "grad_sums", rows, rows, 1)
    run(_LOOPS, "input_grad", rows, rows, vector, vector, vector, np.zeros_like(rows), 1)


def forward(layer, x: np.ndarray) -> np.ndarray | None:
    """y = BatchNorm(x) with batch statistics; saves the layer's state for backward and updates its
    running statistics as the reference does. None when Numba cannot compile here."""
    count = x.size // layer.num_features
    if count <= 1 or not ready(_LOOPS, x.dtype, _warm_up):
        return None  # the reference raises its error for a single value per channel
    y, centered = np.empty_like(x), np.empty_like(x)  # empty_like keeps x's memory layout
    rows, centered_rows = as_rows(x), as_rows(centered)
    chunks = min(CHUNKS, len(rows))
    mean = (run(_LOOPS, "channel_sums", rows, chunks).sum(axis=0) / count).astype(x.dtype)
    var = (run(_LOOPS, "center", rows, mean, centered_rows, chunks).sum(axis=0) / count).astype(x.dtype)
    if layer.track_running_stats:
        layer._update_running_stats(mean, var, count)
    inv_std = (1.0 / np.sqrt(var + layer.eps)).astype(x.dtype)
    scale = inv_std * layer.weight.data if layer.affine else inv_std
    shift = layer.bias.data if layer.affine else np.zeros_like(inv_std)
    run(_LOOPS, "scale_shift", centered_rows, scale, shift, as_rows(y), chunks)
    layer._state = (centered, inv_std, True)  # True: batch statistics
    return y


def backward(layer, grad_output: np.ndarray) -> np.ndarray | None:
    """dL/dx (grad_output's shape checked by the layer), accumulating dL/dγ and dL/dβ; None when
    the gradient's layout differs from the saved state's (then the reference runs)."""
    centered, inv_std, _ = layer._state
    g_rows, centered_rows = as_rows(grad_output), as_rows(centered)
    if g_rows is None or centered_rows is None or not ready(_LOOPS, centered.dtype, _warm_up):
        return None
    count, chunks = len(centered_rows), min(CHUNKS, len(centered_rows))
    sums = run(_LOOPS, "grad_sums", g_rows, centered_rows, chunks).sum(axis=0)
    sum_g, sum_g_xhat = sums[0].astype(centered.dtype), (sums[1] * inv_std).astype(centered.dtype)
    if layer.affine:
        layer.weight.accumulate(sum_g_xhat)
        layer.bias.accumulate(sum_g)
    k = inv_std * layer.weight.data if layer.affine else inv_std  # γ/√(σ²+eps)
    grad_input = np.empty_like(centered)
    run(_LOOPS, "input_grad", g_rows, centered_rows, k, k * inv_std * sum_g_xhat / count, k * sum_g / count,
        as_rows(grad_input), chunks)
    return grad_input
