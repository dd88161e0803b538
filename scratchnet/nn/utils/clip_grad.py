"""Gradient clipping (``torch.nn.utils.clip_grad_norm_`` / ``clip_grad_value_``), in place on ``p.grad``.

With the gradients g_1 … g_k of the parameters that have one, and p = ``norm_type``:

    total = ‖(‖g_1‖_p, …, ‖g_k‖_p)‖_p            (= ‖all gradients as one vector‖_p; max |g| for p = inf)
    g_i  ← g_i · min(1, max_norm / (total + 1e-6))

so the gradients keep their direction and their joint norm drops to at most ``max_norm``.
``clip_grad_value_`` instead clamps every element to [-clip_value, clip_value].
"""
from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from ..module import Parameter


def _grads(parameters: Parameter | Iterable[Parameter], caller: str) -> list[np.ndarray]:
    """The gradients (not None) of a Parameter or an iterable of them, such as ``model.parameters()``."""
    params = [parameters] if isinstance(parameters, Parameter) else list(parameters)
    for p in params:
        if not isinstance(p, Parameter):
            raise TypeError(f"{caller} takes Parameters such as model.parameters(), got {type(p).__name__}")
    return [p.grad for p in params if p.grad is not None]


def clip_grad_norm_(parameters: Parameter | Iterable[Parameter], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> np.ndarray:
    """Scale the gradients in place so their total ``norm_type``-norm is at most ``max_norm``.

    Returns the total norm *before* clipping as a 0-d array of the gradients' dtype (0.0 when no
    parameter has a gradient), as torch returns a tensor. ``error_if_nonfinite=True`` raises a
    RuntimeError, leaving the gradients untouched, when that norm is NaN or infinite; otherwise
    they are scaled as in torch: by 0 for an infinite norm (infinite entries become NaN), by NaN
    for a NaN norm.
    """
    grads = _grads(parameters, "clip_grad_norm_")
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not grads:
        return np.asarray(0.0, dtype=np.float32)
    if norm_type == math.inf:
        norms = np.stack([np.abs(g).max() for g in grads])
        total = norms.max()
    else:
        norms = np.stack([np.linalg.norm(g.ravel(), norm_type) for g in grads])
        total = np.linalg.norm(norms, norm_type)
    total = np.asarray(total, dtype=grads[0].dtype)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {float(total)}, so they "
            "cannot be clipped; the model has likely diverged (lower the learning rate), or pass "
            "error_if_nonfinite=False"
        )
    scale = np.minimum(1.0, max_norm / (float(total) + 1e-6))  # NaN stays NaN; 0 for an infinite norm
    with np.errstate(invalid="ignore"):  # inf · 0 is NaN, as in torch, without a warning
        for g in grads:
            g *= g.dtype.type(scale)
    return total


def clip_grad_value_(parameters: Parameter | Iterable[Parameter], clip_value: float) -> None:
    """Clamp every gradient element in place to [-clip_value, clip_value]."""
    clip_value = float(clip_value)
    for g in _grads(parameters, "clip_grad_value_"):
        np.clip(g, -clip_value, clip_value, out=g)
