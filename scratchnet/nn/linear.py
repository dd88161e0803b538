"""Linear (fully connected) layer: y = x Wᵀ + b, with W of shape (out_features, in_features)."""
from __future__ import annotations

import numpy as np

from . import init
from ._utils import check_grad_output, check_input
from .module import Module, Parameter


class Linear(Module):
    """``torch.nn.Linear``: input (*, in_features) -> output (*, out_features), e.g. (N, in) -> (N, out).

    Forward:  y = x @ W.T + b
    Backward: dL/dx = g @ W          (*, in)   (skipped when input_grad=False)
              dL/dW = gᵀ @ x         (out, in)  with g and x flattened to rows (M, out), (M, in)
              dL/db = Σ_rows g       (out,)
    where g = dL/dy has shape (*, out) and M is the product of the leading dimensions *.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=np.float32, generator=None):
        super().__init__()
        if in_features <= 0 or out_features <= 0:
            raise ValueError(f"Linear needs positive sizes, got in_features={in_features}, out_features={out_features}")
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(np.empty((out_features, in_features), dtype=dtype))
        self.bias = Parameter(np.empty(out_features, dtype=dtype)) if bias else None
        init.default_weight_and_bias_(self.weight, self.bias, generator)
        self._x = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        rank = max(getattr(x, "ndim", 2), 1)
        check_input(self, x, (None,) * (rank - 1) + (self.in_features,), self.weight.dtype)
        self._x = x if self.keeps_state else None
        y = x @ self.weight.data.T
        if self.bias is not None:
            y += self.bias.data
        return y

    can_skip_input_grad = True

    def backward(self, grad_output: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        x = self._saved(self._x)
        input_shape = x.shape
        check_grad_output(self, grad_output, input_shape[:-1] + (self.out_features,))
        if x.ndim != 2:  # (*, in) -> rows (M, in); grad_output alike
            x, grad_output = x.reshape(-1, self.in_features), grad_output.reshape(-1, self.out_features)
        if self.weight.requires_grad:  # a frozen weight needs no dL/dW
            # one sample: dL/dW is an outer product, cheaper than a K=1 GEMM
            self.weight.accumulate(np.multiply(grad_output.T, x) if x.shape[0] == 1 else grad_output.T @ x)
        if self.bias is not None and self.bias.requires_grad:
            self.bias.accumulate(grad_output.sum(axis=0))
        return (grad_output @ self.weight.data).reshape(input_shape) if input_grad else None

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
