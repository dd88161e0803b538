"""RMSprop (``torch.optim.RMSprop``), optionally centered and with momentum."""
from __future__ import annotations

import numpy as np

from .optimizer import Optimizer, add_squared_, check_hyperparameter, lerp_


class RMSprop(Optimizer):
    """RMSprop, with torch's update rule. For each parameter θ with gradient g:

        g ← g + weight_decay · θ                        (if weight_decay ≠ 0)
        v ← α v + (1 − α) g²
        a ← √(v − ḡ²) + eps, with ḡ ← α ḡ + (1 − α) g   (centered)
        a ← √v + eps                                    (otherwise)
        b ← momentum · b + g / a;  θ ← θ − lr · b       (if momentum > 0)
        θ ← θ − lr · g / a                              (otherwise)

    ``alpha`` must lie in [0, 1] (torch only rejects negative values; above 1, v can turn negative).
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False, *, maximize=False):
        defaults = dict(
            lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered, weight_decay=weight_decay, maximize=maximize
        )
        super().__init__(params, defaults)

    def _check_group(self, group):
        check_hyperparameter("RMSprop", "lr", group["lr"], 0, low_open=True)
        check_hyperparameter("RMSprop", "alpha", group["alpha"], 0, 1, high_open=False)
        check_hyperparameter("RMSprop", "eps", group["eps"], 0)
        check_hyperparameter("RMSprop", "weight_decay", group["weight_decay"], 0)
        check_hyperparameter("RMSprop", "momentum", group["momentum"], 0)

    def _init_state(self, param, group):
        state = {"step": 0, "square_avg": np.zeros_like(param)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = np.zeros_like(param)
        if group["centered"]:
            state["grad_avg"] = np.zeros_like(param)
        return state

    def _update(self, param, grad, state, group):
        alpha, weight_decay, momentum = group["alpha"], group["weight_decay"], group["momentum"]
        state["step"] += 1
        if weight_decay != 0:
            grad = grad + weight_decay * param
        square_avg = state["square_avg"]
        square_avg *= alpha
        add_squared_(square_avg, grad, 1 - alpha)
        if group["centered"]:
            grad_avg = state["grad_avg"]
            lerp_(grad_avg, grad, 1 - alpha)
            avg = grad_avg * grad_avg
            np.subtract(square_avg, avg, out=avg)
            np.sqrt(avg, out=avg)
        else:
            avg = np.sqrt(square_avg)
        avg += group["eps"]
        if momentum > 0:
            buf = state["momentum_buffer"]
            buf *= momentum
            np.divide(grad, avg, out=avg)
            buf += avg
            param -= group["lr"] * buf
        else:
            update = grad * group["lr"]
            update /= avg
            param -= update
