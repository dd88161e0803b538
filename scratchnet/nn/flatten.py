"""Flatten and Unflatten (``torch.nn.Flatten``, ``torch.nn.Unflatten``): reshapes, and reshapes back in backward."""
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
        self._input_shape = x.shape if self.keeps_state else None
        return x.reshape(shape)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return grad_output.reshape(self._saved(self._input_shape))

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dimension ``dim`` into ``unflattened_size``, e.g. Unflatten(1, (C, H, W)): (N, C·H·W) -> (N, C, H, W).

    One entry of ``unflattened_size`` may be -1 (inferred). A reshape; backward reshapes the gradient back.
    """

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        sizes = tuple(unflattened_size) if isinstance(unflattened_size, (tuple, list)) else None
        ok = sizes and all(isinstance(v, (int, np.integer)) and (v > 0 or v == -1) for v in sizes) \
            and sizes.count(-1) <= 1
        if not ok:
            raise ValueError(f"Unflatten: unflattened_size must be a tuple of positive ints (one may be -1), "
                             f"got {unflattened_size!r}")
        self.dim, self.unflattened_size = int(dim), tuple(int(v) for v in sizes)
        self._input_shape = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array(self, x)
        if not -x.ndim <= self.dim < x.ndim:
            raise ValueError(f"{self!r}: input of shape {x.shape} has no dimension {self.dim}")
        dim = self.dim % x.ndim
        known = math.prod(v for v in self.unflattened_size if v != -1)
        fits = x.shape[dim] % known == 0 if -1 in self.unflattened_size else x.shape[dim] == known
        if not fits:
            raise ValueError(f"{self!r}: dimension {self.dim} of the input of shape {x.shape} has {x.shape[dim]} "
                             f"values, which do not split into {self.unflattened_size}")
        self._input_shape = x.shape if self.keeps_state else None
        return x.reshape(x.shape[:dim] + self.unflattened_size + x.shape[dim + 1:])

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return grad_output.reshape(self._saved(self._input_shape))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
