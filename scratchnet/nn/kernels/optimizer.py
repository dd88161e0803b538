"""Optimiser updates on the fused loops of ``optimizer_loops.py``: the optimisers' dispatch target.

``adagrad``, ``adam`` and ``sgd`` take what the optimiser's reference ``_update`` takes, run the
fused update and return True, or return False, and the optimiser runs its reference code, when
the kernels are off, Numba cannot compile here, the weights are few (below MIN_SIZE the
reference's passes cost less than waking the threads) or not a contiguous float array. Every
hyperparameter is converted to the weights' dtype the way NumPy converts a Python float in the
reference, so both paths round alike.
"""
from __future__ import annotations

import numpy as np

from . import enabled, ready, run

_LOOPS = "optimizer_loops"
# Weights; smaller tensors take the reference path. A fused call costs about 70 µs whatever its size
# (Numba's dispatch and its thread pool), which the reference's passes only exceed from about a
# million weights (measured on this project's machine: SGD with momentum, 200,704 weights: 57 µs
# reference, 108 µs fused; 1,048,576: 264 / 234 µs; 4,194,304: 2.4 / 1.3 ms; 23.5 million: 17 / 8 ms).
MIN_SIZE = 1 << 20


def _usable(param: np.ndarray) -> bool:
    return (enabled() and param.size >= MIN_SIZE and param.dtype in (np.float32, np.float64)
            and param.flags.c_contiguous and ready(_LOOPS, param.dtype, _warm_up))


def _flat(param: np.ndarray, grad: np.ndarray, *state: np.ndarray) -> list[np.ndarray]:
    """1-D views of the weights, the gradient (copied when it is a strided view) and the state."""
    grad = np.ascontiguousarray(grad, dtype=param.dtype)
    return [a.reshape(-1) for a in (param, grad, *state)]


def _warm_up(dtype) -> None:
    one, t = np.zeros(1, dtype), dtype.type
    run(_LOOPS, "adagrad_step", one, one.copy(), one.copy(), t(0), t(1))
    run(_LOOPS, "adam_step", one, one.copy(), one.copy(), one.copy(), one.copy(), False, t(0), t(1), t(0.1), t(0.9),
        t(0.999), t(0.001), t(1), t(1), t(0))
    run(_LOOPS, "sgd_step", one, one.copy(), one.copy(), True, t(0), t(0), t(1), False, t(0))


def adagrad(param: np.ndarray, grad: np.ndarray, sums: np.ndarray, step_lr: float, eps: float) -> bool:
    """s ← s + g²; θ ← θ − g / (√s + eps) · step_lr (weight decay already added to ``grad``)."""
    if not _usable(param) or not sums.flags.c_contiguous:
        return False
    t = param.dtype.type
    run(_LOOPS, "adagrad_step", *_flat(param, grad, sums), t(step_lr), t(eps))
    return True


def adam(param: np.ndarray, grad: np.ndarray, state: dict, group: dict, l2: float, decay: float,
         step_size: float, bias_correction2_sqrt: float) -> bool:
    """Adam/AdamW's update of ``param``, with the scalars ``Adam._update`` derived for this step:
    ``l2`` (weight decay added to g), ``decay`` (θ's decoupled shrink factor), ``step_size`` and
    ``bias_correction2_sqrt``."""
    moments = [state["exp_avg"], state["exp_avg_sq"]] + ([state["max_exp_avg_sq"]] if group["amsgrad"] else [])
    if not _usable(param) or not all(m.flags.c_contiguous for m in moments):
        return False
    t, (beta1, beta2) = param.dtype.type, group["betas"]
    flat = _flat(param, grad, *moments)
    run(_LOOPS, "adam_step", *flat[:4], flat[4] if group["amsgrad"] else flat[3], bool(group["amsgrad"]), t(l2),
        t(decay), t(1 - beta1), t(1 - (1 - beta1)), t(beta2), t(1 - beta2), t(bias_correction2_sqrt),
        t(group["eps"]), t(step_size))
    return True


def sgd(param: np.ndarray, grad: np.ndarray, state: dict, group: dict) -> bool:
    """SGD's update, as ``SGD._update``; creates ``state["momentum_buffer"]`` on the first step with momentum."""
    momentum = group["momentum"]
    buf = state.get("momentum_buffer")
    if not _usable(param) or (buf is not None and not buf.flags.c_contiguous):
        return False
    first = momentum != 0 and buf is None
    if first:
        buf = state["momentum_buffer"] = np.empty_like(param)
    t = param.dtype.type
    run(_LOOPS, "sgd_step", *_flat(param, grad, param if buf is None else buf), first, t(group["weight_decay"]),
        t(momentum), t(1 - group["dampening"]), bool(group["nesterov"]), t(group["lr"]))
    return True
