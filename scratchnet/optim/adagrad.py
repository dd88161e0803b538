"""Adagrad (``torch.optim.Adagrad``): per-coordinate steps shrinking with the summed squared gradients."""
from __future__ import annotations

import numpy as np

from ..nn.kernels import optimizer as fused
from .optimizer import Optimizer, add_squared_, check_hyperparameter


class Adagrad(Optimizer):
    """Adagrad, with torch's update rule. At step t, for each parameter θ with gradient g:

        g ← g + weight_decay · θ                        (if weight_decay ≠ 0)
        lr_t ← lr / (1 + (t − 1) · lr_decay)
        s ← s + g²                                      (s starts at initial_accumulator_value)
        θ ← θ − lr_t · g / (√s + eps)
    """

    def __init__(
        self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10, *, maximize=False
    ):
        defaults = dict(
            lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value, maximize=maximize,
        )
        super().__init__(params, defaults)

    def _check_group(self, group):
        check_hyperparameter("Adagrad", "lr", group["lr"], 0, low_open=True)
        check_hyperparameter("Adagrad", "lr_decay", group["lr_decay"], 0)
        check_hyperparameter("Adagrad", "weight_decay", group["weight_decay"], 0)
        check_hyperparameter("Adagrad", "initial_accumulator_value", group["initial_accumulator_value"], 0)
        check_hyperparameter("Adagrad", "eps", group["eps"], 0)

    def _init_state(self, param, group):
        return {"step": 0, "sum": np.full_like(param, group["initial_accumulator_value"])}

    def _update(self, param, grad, state, group):
        weight_decay = group["weight_decay"]
        state["step"] = step = state["step"] + 1
        if weight_decay != 0:
            grad = grad + weight_decay * param
        step_lr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
        if fused.adagrad(param, grad, state["sum"], step_lr, group["eps"]):
            return  # one compiled pass (nn/kernels); below, the reference
        squares, work = state["sum"], self._work(param)
        add_squared_(squares, grad, 1, work)
        std = np.sqrt(squares, out=work)
        std += group["eps"]
        update = np.divide(grad, std, out=work)
        update *= step_lr
        param -= update
