"""Optimiser updates fused into one pass over the weights, compiled by Numba.

The reference updates (``scratchnet/optim/``) make one NumPy pass per operation. Adagrad's
update, for example, reads or writes the weights' size of memory 17 times (square, add,
square root, add eps, divide, scale, subtract); Adam's about 25. For a large layer (the dense
net's 23.5 million weights, 94 MB) every pass streams the whole array through memory, so at
batch 4 the update costs more than the layer itself. Here each update reads the gradient, the
weights and the optimiser's state once and writes the weights and state once.

The arithmetic is the reference's, operation by operation, in the weights' dtype (the caller
passes every hyperparameter already converted to it), so both paths round the same way. All
arrays are 1-D views of contiguous arrays of the same length; the loops run in parallel over
elements (``prange``). Torch's formulas, with g the gradient and θ the weights:

    adagrad   s ← s + g·g;   θ ← θ − g / (√s + eps) · lr_t
    adam      g ← g + wd·θ (L2) or θ ← θ·(1 − lr·wd) (decoupled);   m ← lerp(m, g, 1 − β₁);
              v ← β₂ v + (1 − β₂) g·g;   v̂ ← max(v̂, v) (amsgrad);
              θ ← θ − m / (√v̂ / √(1 − β₂ᵗ) + eps) · lr / (1 − β₁ᵗ)
    sgd       g ← g + wd·θ;   b ← momentum·b + (1 − dampening)·g;   g ← g + momentum·b (nesterov) or b;
              θ ← θ − g·lr
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def adagrad_step(param, grad, sums, lr, eps):
    for i in prange(param.size):
        g = grad[i]
        s = sums[i] + g * g
        sums[i] = s
        param[i] -= g / (np.sqrt(s) + eps) * lr


@njit(parallel=True, cache=True)
def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, amsgrad, l2, decay, one_minus_beta1, beta1,
              beta2, one_minus_beta2, bias_correction2_sqrt, eps, step_size):
    """``l2``: weight decay added to g (0: none); ``decay``: θ's decoupled shrink factor (1: none);
    ``beta1`` is 1 − (1 − β₁) as the reference computes it, for lerp's second branch."""
    small_weight = abs(one_minus_beta1) < 0.5  # the branch torch.lerp_ (and optim.lerp_) takes
    for i in prange(param.size):
        p = param[i] * decay
        g = grad[i] + l2 * param[i]
        diff = g - exp_avg[i]
        m = exp_avg[i] + diff * one_minus_beta1 if small_weight else g - diff * beta1
        exp_avg[i] = m
        v = exp_avg_sq[i] * beta2 + g * one_minus_beta2 * g
        exp_avg_sq[i] = v
        if amsgrad:
            v = max(max_exp_avg_sq[i], v)
            max_exp_avg_sq[i] = v
        param[i] = p - m / (np.sqrt(v) / bias_correction2_sqrt + eps) * step_size


@njit(parallel=True, cache=True)
def sgd_step(param, grad, buf, first, weight_decay, momentum, one_minus_dampening, nesterov, lr):
    """``buf`` is the momentum buffer (ignored when momentum is 0); ``first``: its first step (b ← g)."""
    for i in prange(param.size):
        g = grad[i]
        if weight_decay != 0:
            g = g + weight_decay * param[i]
        if momentum != 0:
            b = g if first else buf[i] * momentum + g * one_minus_dampening
            buf[i] = b
            g = g + momentum * b if nesterov else b
        param[i] -= g * lr
