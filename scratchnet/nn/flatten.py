"""Flatten: merge dimensions start_dim..end_dim into one, as ``torch.nn.Flatten``."""
from __future__ import annotations

import math

import numpy as np

from ._utils import check_array
from .module import Module


class Flatten(Module):
    """(N, C, H, W) -> (N, C·H·W) with the defaults start_dim=1, end_dim=-1.

    A reshape (a view when the input is contiguous); backward reshapes the gradient back.
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)
        self._input_shape = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array(self, x)
        ndim = x.ndim
        start, end = self.start_dim, self.end_dim
        if not (-ndim <= start < ndim and -ndim <= end < ndim):
            raise ValueError(f"{self!r}: input of shape {x.shape} has no dimensions {start}..{end}")
        start, end = start % ndim, end % ndim
        if start > end:
            raise ValueError(f"{self!r}: start_dim must not come after end_dim")
        shape = x.shape[:start] + (math.prod(x.shape[start:end + 1]),) + x.shape[end + 1:]
        self._input_shape = x.shape if self.training else None
        return x.reshape(shape)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return grad_output.reshape(self._saved(self._input_shape))

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
