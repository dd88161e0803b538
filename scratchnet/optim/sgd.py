"""SGD with optional momentum, dampening, Nesterov momentum and L2 weight decay (``torch.optim.SGD``)."""
from __future__ import annotations

import numpy as np

from ..nn.kernels import optimizer as fused
from .optimizer import Optimizer, check_hyperparameter


class SGD(Optimizer):
    """Stochastic gradient descent, with torch's update rule. For each parameter θ with gradient g:

        g ← g + weight_decay · θ                        (if weight_decay ≠ 0)
        b ← g on the first step, else momentum · b + (1 − dampening) · g
        g ← g + momentum · b  if nesterov,  else  g ← b  (if momentum ≠ 0)
        θ ← θ − lr · g
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *, maximize=False):
        defaults = dict(
            lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov, maximize=maximize
        )
        super().__init__(params, defaults)

    def _check_group(self, group):
        check_hyperparameter("SGD", "lr", group["lr"], 0, low_open=True)
        check_hyperparameter("SGD", "momentum", group["momentum"], 0)
        check_hyperparameter("SGD", "dampening", group["dampening"], 0, 1, high_open=False)
        check_hyperparameter("SGD", "weight_decay", group["weight_decay"], 0)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                f"SGD: nesterov=True needs momentum > 0 and dampening = 0, got momentum={group['momentum']!r}, "
                f"dampening={group['dampening']!r}"
            )

    def _init_state(self, param, group):
        return {}

    def _update(self, param, grad, state, group):
        if fused.sgd(param, grad, state, group):
            return  # one compiled pass (nn/kernels); below, the reference
        weight_decay, momentum = group["weight_decay"], group["momentum"]
        if weight_decay != 0:
            grad = grad + weight_decay * param
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(grad, dtype=param.dtype, copy=True)
            else:
                buf *= momentum
                dampening = group["dampening"]
                buf += grad if dampening == 0 else (1 - dampening) * grad
            grad = grad + momentum * buf if group["nesterov"] else buf
        param -= np.multiply(grad, group["lr"], out=self._work(param))  # no temporary the size of the weights
