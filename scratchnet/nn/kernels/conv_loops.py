"""Direct 2-D convolution loops (stride 1), compiled by Numba: where im2col loses.

Why: im2col turns a convolution into one GEMM of (N·Ho·Wo × C·kh·kw)·(C·kh·kw × O). With
O = 6 or 16 output channels that GEMM is only 6 or 16 columns wide, far too thin for BLAS
(LeNet-5's 3→6 5×5 convolution ran at 11–14 GFLOP/s in OpenBLAS), and building the patch
matrix copies every input pixel kh·kw times. These loops read each input plane in place.

The math is the reference's (``scratchnet/nn/conv.py``) with stride 1, over the zero-padded
input xpad (N, C, Hp, Wp), weight W (O, C, kh, kw) and g = dL/dy (N, O, Ho, Wo):

    y[n, o, i, j]  = b[o] + Σ_{c, p, q} W[o, c, p, q] · xpad[n, c, i + p, j + q]
    dW[o, c, p, q] = Σ_{n, i, j} g[n, o, i, j] · xpad[n, c, i + p, j + q]
    dxpad[n, c, i + p, j + q] += Σ_o W[o, c, p, q] · g[n, o, i, j]

The trick that makes the inner loop long and simple: each plane is flattened to Hp·Wp values,
and the output is computed on the padded grid's width Wp (row i, column j at flat position
t = i·Wp + j). Then for each kernel offset (p, q) the input pixel of output t is flat position
t + p·Wp + q, so one offset is one contiguous multiply-add of two runs of about Ho·Wp values,
which the compiler turns into SIMD instructions. The Wp - Wo columns past the right edge are
junk the caller never reads (forward) or zeros it wrote (g, backward).

Forward and dL/dW take a whole kernel row (p fixed, all kw taps q) in one pass over t, so each
load and store of y (or each load of g) serves kw multiply-adds instead of one: the loop body
is memory-bound, not arithmetic-bound. Kernel rows of 5 and 3 taps are spelled out (the
compiler vectorises a loop whose body it can see whole); other widths take one pass per tap.

Each kernel loops explicitly over the few dimensions that matter and splits its work over
threads with ``prange``: over (sample, output channel) planes forward, (sample, input channel)
planes for dL/dx, (output, input channel) pairs for dL/dW, so no two threads write the same memory.
"""
from __future__ import annotations

from numba import njit, prange


@njit(parallel=True, cache=True, fastmath=True)
def conv2d_forward(xpad, weight, bias, wp, out):
    """out (N, O, Ho·Wp) = bias + the convolution of xpad (N, C, Hp·Wp) with weight (O, C, kh, kw)."""
    n, channels = xpad.shape[0], xpad.shape[1]
    filters, _, kh, kw = weight.shape
    length = out.shape[2] - (kw - 1)  # the last output row's junk columns would read past the plane
    for task in prange(n * filters):
        s, o = task // filters, task % filters
        out[s, o, :] = bias[o]
        y_run = out[s, o, :length]
        for c in range(channels):
            for p in range(kh):
                x_row = xpad[s, c, p * wp:p * wp + length + kw - 1]  # kernel row p's window, all kw taps
                w = weight[o, c, p]
                # One pass adds a whole kernel row: the multiply-adds of kw taps per load and store
                # of y (2x faster than one pass per tap, measured for 5x5). 5 and 3 taps spelled out
                # so that the compiler vectorises over t; other widths take one pass per tap.
                if kw == 5:
                    w0, w1, w2, w3, w4 = w[0], w[1], w[2], w[3], w[4]
                    for t in range(length):
                        y_run[t] += (w0 * x_row[t] + w1 * x_row[t + 1] + w2 * x_row[t + 2]
                                     + w3 * x_row[t + 3] + w4 * x_row[t + 4])
                elif kw == 3:
                    w0, w1, w2 = w[0], w[1], w[2]
                    for t in range(length):
                        y_run[t] += w0 * x_row[t] + w1 * x_row[t + 1] + w2 * x_row[t + 2]
                else:
                    for q in range(kw):
                        for t in range(length):
                            y_run[t] += w[q] * x_row[t + q]


@njit(parallel=True, cache=True, fastmath=True)
def conv2d_backward_input(grad, weight, wp, dxpad):
    """dxpad (N, C, Hp·Wp) = dL/dxpad, from grad (N, O, Ho·Wp) whose junk columns are zero."""
    n, channels = dxpad.shape[0], dxpad.shape[1]
    filters, _, kh, kw = weight.shape
    length = grad.shape[2] - (kw - 1)
    for task in prange(n * channels):
        s, c = task // channels, task % channels
        dxpad[s, c, :] = 0
        for o in range(filters):
            for p in range(kh):
                for q in range(kw):
                    w, offset = weight[o, c, p, q], p * wp + q
                    g_run, dx_run = grad[s, o, :length], dxpad[s, c, offset:offset + length]
                    for t in range(length):
                        dx_run[t] += w * g_run[t]


@njit(parallel=True, cache=True, fastmath=True)
def conv2d_backward_weight(xpad, grad, wp, dweight):
    """dweight (O, C, kh, kw), zero on entry, = Σ over samples and pixels of grad · the input window.

    Samples are the outer loop: one sample's gradient plane and input plane (a few KB) stay in the
    L1 cache while all kh·kw dot products read them, instead of streaming every sample's planes
    from memory again for each kernel offset."""
    n, channels = xpad.shape[0], xpad.shape[1]
    filters, _, kh, kw = dweight.shape
    length = grad.shape[2] - (kw - 1)
    for task in prange(filters * channels):
        o, c = task // channels, task % channels
        for s in range(n):
            g_run = grad[s, o, :length]
            for p in range(kh):
                x_row = xpad[s, c, p * wp:p * wp + length + kw - 1]
                dw = dweight[o, c, p]
                zero = dw[0] * 0  # 0 in the weight's dtype
                if kw == 5:  # a kernel row's 5 dot products in one pass: one load of g serves 5 taps
                    a0, a1, a2, a3, a4 = zero, zero, zero, zero, zero
                    for t in range(length):
                        g = g_run[t]
                        a0 += g * x_row[t]
                        a1 += g * x_row[t + 1]
                        a2 += g * x_row[t + 2]
                        a3 += g * x_row[t + 3]
                        a4 += g * x_row[t + 4]
                    dw[0] += a0
                    dw[1] += a1
                    dw[2] += a2
                    dw[3] += a3
                    dw[4] += a4
                else:
                    for q in range(kw):
                        total = zero
                        for t in range(length):
                            total += g_run[t] * x_row[t + q]
                        dw[q] += total
