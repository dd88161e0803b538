"""Dropout: inverted dropout with ``torch.nn.Dropout``'s semantics."""
from __future__ import annotations

import numpy as np

from ..random import resolve
from ._utils import check_array
from .module import Module


class Dropout(Module):
    """In training, zero each element with probability p and scale the rest by 1/(1-p), so the
    expected output equals the input; in eval mode, the identity.

    Forward:  y = x · m,  m = [u ≥ p] / (1 - p),  u ~ U[0, 1) drawn per element
    Backward: dL/dx = g · m
    The mask is drawn from ``generator`` (default: the library's, see scratchnet.manual_seed)
    in the input's dtype (float32 or float64).
    """

    def __init__(self, p: float = 0.5, generator: np.random.Generator | None = None):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout probability p must be in [0, 1), got {p}")
        self.p = float(p)
        self.generator = generator
        self._mask = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array(self, x)
        if not self.training:
            self._mask = None
            return x
        mask = resolve(self.generator).random(x.shape, dtype=x.dtype)
        np.greater_equal(mask, self.p, out=mask)
        mask *= 1 / (1 - self.p)
        self._mask = mask
        return x * mask

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return grad_output * self._saved(self._mask)

    def extra_repr(self) -> str:
        return f"p={self.p}"
