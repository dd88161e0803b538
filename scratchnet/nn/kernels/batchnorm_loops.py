"""BatchNorm's passes over channels-last activations, fused and compiled by Numba.

An activation (N, C, H, W) in channels-last memory is a matrix of R = N·H·W rows by C
channels (for BatchNorm1d's (N, C) input, R = N). The reference (``nn/batchnorm.py``) makes
one NumPy pass per operation: forward reads or writes the whole activation six times (sum,
subtract, sum of squares, scale, shift), backward about eight (two sums, three products and
differences, a temporary). Here forward makes three passes and backward two:

    forward   1. s[c]  = Σ_r x[r, c]                         -> μ = s / R
              2. x̄ = x - μ (kept for backward),  q[c] = Σ_r x̄[r, c]²   -> σ² = q / R
              3. y = x̄ · scale + shift                       (scale = γ/√(σ²+eps), shift = β)
    backward  1. Σg[c] = Σ_r g[r, c],  Σgx̄[c] = Σ_r g[r, c] · x̄[r, c]
              2. dx = g · a - x̄ · b - d                      (a, b, d: per-channel, see nn/batchnorm.py)

Sums run over a fixed number of row chunks in parallel (``prange``), each into its own row of
a partial-sum table in float64, added up afterwards in chunk order: the result does not depend
on the thread count.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True)
def _bounds(k, rows, chunks):
    step = (rows + chunks - 1) // chunks
    return k * step, min(rows, (k + 1) * step)


@njit(parallel=True, cache=True, fastmath=True)
def channel_sums(x, chunks):
    """(chunks, C) float64 partial sums of x (R, C) over its rows."""
    partial = np.zeros((chunks, x.shape[1]))
    for k in prange(chunks):
        start, stop = _bounds(k, x.shape[0], chunks)
        acc = partial[k]
        for r in range(start, stop):
            row = x[r]
            for c in range(x.shape[1]):
                acc[c] += row[c]
    return partial


@njit(parallel=True, cache=True, fastmath=True)
def center(x, mean, centered, chunks):
    """centered = x - mean; returns (chunks, C) float64 partial sums of centered²."""
    partial = np.zeros((chunks, x.shape[1]))
    for k in prange(chunks):
        start, stop = _bounds(k, x.shape[0], chunks)
        acc = partial[k]
        for r in range(start, stop):
            row, out = x[r], centered[r]
            for c in range(x.shape[1]):
                d = row[c] - mean[c]
                out[c] = d
                acc[c] += d * d
    return partial


@njit(parallel=True, cache=True, fastmath=True)
def scale_shift(centered, scale, shift, y, chunks):
    """y = centered · scale + shift, per channel."""
    for k in prange(chunks):
        start, stop = _bounds(k, centered.shape[0], chunks)
        for r in range(start, stop):
            row, out = centered[r], y[r]
            for c in range(centered.shape[1]):
                out[c] = row[c] * scale[c] + shift[c]


@njit(parallel=True, cache=True, fastmath=True)
def grad_sums(g, centered, chunks):
    """(chunks, 2, C) float64 partial sums of g and of g · centered over the rows."""
    partial = np.zeros((chunks, 2, g.shape[1]))
    for k in prange(chunks):
        start, stop = _bounds(k, g.shape[0], chunks)
        sum_g, sum_gc = partial[k, 0], partial[k, 1]
        for r in range(start, stop):
            g_row, c_row = g[r], centered[r]
            for c in range(g.shape[1]):
                sum_g[c] += g_row[c]
                sum_gc[c] += g_row[c] * c_row[c]
    return partial


@njit(parallel=True, cache=True, fastmath=True)
def input_grad(g, centered, g_coef, centered_coef, offset, dx, chunks):
    """dx = g · g_coef - centered · centered_coef - offset, per channel."""
    for k in prange(chunks):
        start, stop = _bounds(k, g.shape[0], chunks)
        for r in range(start, stop):
            g_row, c_row, out = g[r], centered[r], dx[r]
            for c in range(g.shape[1]):
                out[c] = g_row[c] * g_coef[c] - c_row[c] * centered_coef[c] - offset[c]
