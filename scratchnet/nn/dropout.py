"""Dropout: inverted dropout with ``torch.nn.Dropout``'s and ``torch.nn.Dropout2d``'s semantics."""
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
    in the input's dtype (float32 or float64). ``inplace`` is accepted so torch code runs
    unchanged; the output is always a new array (the caller's array is never overwritten).
    """

    def __init__(self, p: float = 0.5, inplace: bool = False, generator: np.random.Generator | None = None):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout probability p must be in [0, 1], got {p}")
        self.p = float(p)
        self.inplace = bool(inplace)
        self.generator = generator
        self._mask = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array(self, x)
        if not self.training:
            self._mask = 1 if self.keeps_state else None  # eval: the identity, whose derivative is 1
            return x
        mask = resolve(self.generator).random(self._mask_shape(x), dtype=x.dtype)
        np.greater_equal(mask, self.p, out=mask)
        mask *= 1 / (1 - self.p) if self.p < 1 else 0  # p = 1 drops everything: zeros, as in torch
        self._mask = mask
        return x * mask

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return grad_output * self._saved(self._mask)

    def _mask_shape(self, x: np.ndarray) -> tuple[int, ...]:
        """One draw per element."""
        return x.shape

    def extra_repr(self) -> str:
        return f"p={self.p}" + (", inplace=True" if self.inplace else "")


class Dropout2d(Dropout):
    """``torch.nn.Dropout2d``: zero whole channels. For x (N, C, H, W) the mask m is drawn per
    (sample, channel), shape (N, C, 1, 1), and broadcast over the feature map; the same formulas
    as Dropout otherwise (y = x · m, dL/dx = g · m). A 3-D input is taken as (N, C, L), as torch
    2.x does today (it warns that this will change; use 4-D inputs).
    """

    def _mask_shape(self, x: np.ndarray) -> tuple[int, ...]:
        if x.ndim not in (3, 4):
            raise ValueError(f"{self!r}: expected input of shape (N, C, H, W) (or (N, C, L)), got {x.shape}")
        return x.shape[:2] + (1,) * (x.ndim - 2)
