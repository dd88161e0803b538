"""Per-sample normalisation (``torch.nn.LayerNorm``, ``torch.nn.GroupNorm``): statistics over rows.

Both reshape the input to rows of K values and normalise each row by its own mean and
(biased) variance, the same in training and evaluation (no running statistics):

    μ = mean(row),  σ² = mean((row - μ)²),  x̂ = (row - μ) / √(σ² + eps)

    LayerNorm(normalized_shape): x (*, D1, ..., Dk) -> rows of K = D1·...·Dk (the last k dims);
        y = γ ⊙ x̂ + β with γ, β of shape normalized_shape.
    GroupNorm(G, C): x (N, C, *) -> N·G rows, each one group of C/G channels with all their
        positions; y[:, c] = γ[c] · x̂[:, c] + β[c] with γ, β of shape (C,).

Backward, with g = dL/dy, d = dL/dx̂ = g ⊙ γ (g without an affine) and means over each row:

    dL/dβ = Σ g,   dL/dγ = Σ g ⊙ x̂          (summed over everything but γ's own axes)
    dL/dx = (d - mean(d) - x̂ · mean(d ⊙ x̂)) / √(σ² + eps)
"""
from __future__ import annotations

import math

import numpy as np

from . import init
from ._utils import check_array, check_float_dtype, check_grad_output
from .module import Module, Parameter


def normalize_rows(rows: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """rows (M, K) -> (x̂ (M, K), 1/√(σ² + eps) (M, 1)), each row by its own mean and biased variance."""
    centered = rows - rows.mean(axis=1, keepdims=True)
    inv_std = 1.0 / np.sqrt(np.mean(centered * centered, axis=1, keepdims=True) + eps)
    centered *= inv_std
    return centered, inv_std.astype(rows.dtype, copy=False)


def normalize_rows_backward(d: np.ndarray, xhat: np.ndarray, inv_std: np.ndarray) -> np.ndarray:
    """dL/drows (M, K) from d = dL/dx̂ (M, K): (d - mean(d) - x̂ · mean(d ⊙ x̂)) · inv_std."""
    grad = d - d.mean(axis=1, keepdims=True)
    grad -= xhat * np.mean(d * xhat, axis=1, keepdims=True)
    grad *= inv_std
    return grad


def _check_eps(owner: str, eps) -> float:
    if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not eps > 0:
        raise ValueError(f"{owner}: eps must be a positive number, got {eps!r}")
    return float(eps)


class LayerNorm(Module):
    """``torch.nn.LayerNorm``: normalise over the last dims ``normalized_shape`` of each sample.

    ``normalized_shape`` is an int or a tuple (the trailing shape of the input); the weight γ
    (ones) and bias β (zeros) have that shape unless ``elementwise_affine=False`` (neither)
    or ``bias=False`` (no β). See the module docstring for the math.
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 dtype=np.float32):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
        if not shape or not all(isinstance(d, (int, np.integer)) and d > 0 for d in shape):
            raise ValueError(f"LayerNorm: normalized_shape must be a positive int or a tuple of them, "
                             f"got {normalized_shape!r}")
        self.normalized_shape = tuple(int(d) for d in shape)
        self.eps = _check_eps("LayerNorm", eps)
        self.elementwise_affine = bool(elementwise_affine)
        affine = self.elementwise_affine
        self.weight = Parameter(init.ones_(np.empty(self.normalized_shape, dtype=dtype))) if affine else None
        self.bias = Parameter(init.zeros_(np.empty(self.normalized_shape, dtype=dtype))) if affine and bias else None
        self._state = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array(self, x)
        k = len(self.normalized_shape)
        if x.ndim < k or x.shape[x.ndim - k:] != self.normalized_shape:
            raise ValueError(f"{self!r}: expected input of shape (*, {', '.join(map(str, self.normalized_shape))}), "
                             f"got {x.shape}; normalized_shape must be the input's trailing dimensions")
        check_float_dtype(self, x, self.weight.dtype if self.weight is not None else None)
        xhat, inv_std = normalize_rows(x.reshape(-1, math.prod(self.normalized_shape)), self.eps)
        xhat = xhat.reshape(x.shape)
        y = xhat * self.weight.data if self.weight is not None else xhat.copy()
        if self.bias is not None:
            y += self.bias.data
        self._state = (xhat, inv_std) if self.keeps_state else None
        return y

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        xhat, inv_std = self._saved(self._state)
        check_grad_output(self, grad_output, xhat.shape)
        lead = tuple(range(xhat.ndim - len(self.normalized_shape)))  # the axes γ is broadcast over
        if self.bias is not None:
            self.bias.accumulate(grad_output.sum(axis=lead))
        if self.weight is not None:
            self.weight.accumulate((grad_output * xhat).sum(axis=lead))
        d = grad_output * self.weight.data if self.weight is not None else grad_output
        rows = xhat.reshape(len(inv_std), -1)
        return normalize_rows_backward(d.reshape(rows.shape), rows, inv_std).reshape(xhat.shape)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class GroupNorm(Module):
    """``torch.nn.GroupNorm``: normalise each sample's channels in ``num_groups`` groups.

    Input (N, C, *) with C = ``num_channels``, divisible by ``num_groups``; per-channel weight γ
    (ones) and bias β (zeros) of shape (C,) unless ``affine=False``. ``num_groups=1`` normalises
    each sample over all its values; ``num_groups=C`` is instance normalisation.
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 dtype=np.float32):
        super().__init__()
        ints = all(isinstance(v, (int, np.integer)) and v > 0 for v in (num_groups, num_channels))
        if not ints or num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_groups={num_groups!r} must be a positive int dividing "
                             f"num_channels={num_channels!r}")
        self.num_groups, self.num_channels = int(num_groups), int(num_channels)
        self.eps = _check_eps("GroupNorm", eps)
        self.affine = bool(affine)
        self.weight = Parameter(init.ones_(np.empty(num_channels, dtype=dtype))) if affine else None
        self.bias = Parameter(init.zeros_(np.empty(num_channels, dtype=dtype))) if affine else None
        self._state = None

    def _channel_vector(self, v: np.ndarray, ndim: int) -> np.ndarray:
        """(C,) shaped to broadcast along axis 1 of an ndim-dimensional (N, C, *) array."""
        return v.reshape((self.num_channels,) + (1,) * (ndim - 2))

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array(self, x)
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ValueError(f"{self!r}: expected input of shape (N, {self.num_channels}, *), got {x.shape}")
        check_float_dtype(self, x, self.weight.dtype if self.affine else None)
        xhat, inv_std = normalize_rows(x.reshape(x.shape[0] * self.num_groups, -1), self.eps)
        xhat = xhat.reshape(x.shape)
        if self.affine:
            y = xhat * self._channel_vector(self.weight.data, x.ndim)
            y += self._channel_vector(self.bias.data, x.ndim)
        else:
            y = xhat.copy()
        self._state = (xhat, inv_std) if self.keeps_state else None
        return y

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        xhat, inv_std = self._saved(self._state)
        check_grad_output(self, grad_output, xhat.shape)
        d = grad_output
        if self.affine:
            others = (0,) + tuple(range(2, xhat.ndim))  # every axis but the channels
            self.bias.accumulate(grad_output.sum(axis=others))
            self.weight.accumulate((grad_output * xhat).sum(axis=others))
            d = grad_output * self._channel_vector(self.weight.data, xhat.ndim)
        rows = xhat.reshape(len(inv_std), -1)
        return normalize_rows_backward(d.reshape(rows.shape), rows, inv_std).reshape(xhat.shape)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"
