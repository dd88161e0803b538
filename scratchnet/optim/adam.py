"""Adam and AdamW (``torch.optim.Adam`` / ``torch.optim.AdamW``), with optional AMSGrad."""
from __future__ import annotations

import numpy as np

from ..nn.kernels import optimizer as fused
from .optimizer import Optimizer, add_squared_, check_hyperparameter, lerp_


class Adam(Optimizer):
    """Adam, with torch's update rule. At step t, for each parameter θ with gradient g:

        θ ← θ · (1 − lr · weight_decay)                 (decoupled, AdamW)
        g ← g + weight_decay · θ                        (otherwise, L2 penalty)
        m ← β₁ m + (1 − β₁) g;   v ← β₂ v + (1 − β₂) g²
        v̂ ← max(v̂, v) if amsgrad else v
        θ ← θ − lr / (1 − β₁ᵗ) · m / (√v̂ / √(1 − β₂ᵗ) + eps)
    """

    def __init__(
        self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
        maximize=False, decoupled_weight_decay=False,
    ):
        defaults = dict(
            lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize,
            decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults)

    def _check_group(self, group):
        name = type(self).__name__
        check_hyperparameter(name, "lr", group["lr"], 0, low_open=True)
        if len(group["betas"]) != 2:
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {group['betas']!r}")
        check_hyperparameter(name, "betas[0]", group["betas"][0], 0, 1)
        check_hyperparameter(name, "betas[1]", group["betas"][1], 0, 1)
        check_hyperparameter(name, "eps", group["eps"], 0)
        check_hyperparameter(name, "weight_decay", group["weight_decay"], 0)

    def _init_state(self, param, group):
        state = {"step": 0, "exp_avg": np.zeros_like(param), "exp_avg_sq": np.zeros_like(param)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = np.zeros_like(param)
        return state

    def _update(self, param, grad, state, group):
        lr, weight_decay = group["lr"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        state["step"] = step = state["step"] + 1
        # l2: the decay added to g (Adam); decay: θ's shrink factor (AdamW, decoupled)
        l2, decay = (0.0, 1 - lr * weight_decay) if group["decoupled_weight_decay"] else (weight_decay, 1.0)
        step_size, bias_correction2_sqrt = lr / (1 - beta1**step), (1 - beta2**step) ** 0.5
        if fused.adam(param, grad, state, group, l2, decay, step_size, bias_correction2_sqrt):
            return  # one compiled pass (nn/kernels); below, the reference
        if decay != 1:
            param *= decay
        if l2 != 0:
            grad = grad + l2 * param
        exp_avg, second_moment, work = state["exp_avg"], state["exp_avg_sq"], self._work(param)
        lerp_(exp_avg, grad, 1 - beta1, work)
        second_moment *= beta2
        add_squared_(second_moment, grad, 1 - beta2, work)
        if group["amsgrad"]:
            second_moment = np.maximum(state["max_exp_avg_sq"], second_moment, out=state["max_exp_avg_sq"])
        denom = np.sqrt(second_moment, out=work)
        denom /= bias_correction2_sqrt
        denom += group["eps"]
        update = np.divide(exp_avg, denom, out=work)
        update *= step_size
        param -= update


class AdamW(Adam):
    """Adam with decoupled weight decay: θ shrinks by ``lr · weight_decay`` instead of g growing."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *, maximize=False):
        super().__init__(
            params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize, decoupled_weight_decay=True
        )

    def load_state_dict(self, state_dict):
        """As ``Optimizer.load_state_dict``; the decay stays decoupled even for a state saved by Adam (as in torch)."""
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
