"""Activations with ``torch.nn``'s names and semantics: elementwise (Softmax, LogSoftmax: along ``dim``).

Each takes an array of any shape and returns one of the same shape and dtype; PReLU learns
its negative slope (one, or one per channel). In training
mode forward saves the one array backward needs (a mask, the input or the output), so
backward is a couple of NumPy calls; eval-mode forwards keep nothing.

Where torch takes ``inplace`` (ReLU, ReLU6, LeakyReLU, ELU, SiLU, Mish, Hardswish) it is
accepted so that torch code such as ``nn.ReLU(inplace=True)`` runs unchanged, and shown in the
repr as torch shows it; the output is always a new array (the caller's array is never
overwritten, and backward may need it), so the values and gradients are torch's either way.
"""
from __future__ import annotations

import math

import numpy as np

from ._utils import check_array, check_float_dtype, sigmoid, softplus
from .module import Module, Parameter


# W. J. Cody's rational approximations (Math. Comp. 23, 1969; SPECFUN's CALERF), accurate to
# float64 precision: erf on |x| <= 0.46875, erfc on (0.46875, 4] and on (4, ∞).
_ERF_SMALL_NUM = (1.85777706184603153e-1, 3.16112374387056560e00, 1.13864154151050156e02,
                  3.77485237685302021e02, 3.20937758913846947e03)
_ERF_SMALL_DEN = (1.0, 2.36012909523441209e01, 2.44024637934444173e02,
                  1.28261652607737228e03, 2.84423683343917062e03)
_ERFC_MID_NUM = (2.15311535474403846e-8, 5.64188496988670089e-1, 8.88314979438837594e00,
                 6.61191906371416295e01, 2.98635138197400131e02, 8.81952221241769090e02,
                 1.71204761263407058e03, 2.05107837782607147e03, 1.23033935479799725e03)
_ERFC_MID_DEN = (1.0, 1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
                 1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
                 3.43936767414372164e03, 1.23033935480374942e03)
_ERFC_TAIL_NUM = (1.63153871373020978e-2, 3.05326634961232344e-1, 3.60344899949804439e-1,
                  1.25781726111229246e-1, 1.60837851487422766e-2, 6.58749161529837803e-4)
_ERFC_TAIL_DEN = (1.0, 2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
                  6.05183413124413191e-2, 2.33520497626869185e-3)
_ERF_SMALL_LIMIT, _ERFC_MID_LIMIT = 0.46875, 4.0
_ERFC_UNDERFLOW = 27.0  # erfc(x) < 1e-318 beyond; clipping keeps 1/x² and exp(-x²) finite


def _rational(x: np.ndarray, numerator: tuple, denominator: tuple) -> np.ndarray:
    """P(x) / Q(x) by Horner's rule in place (coefficients from the highest power down)."""
    p, q = np.full_like(x, numerator[0]), np.full_like(x, denominator[0])
    for c in numerator[1:]:
        p *= x
        p += c
    for c in denominator[1:]:
        q *= x
        q += c
    p /= q
    return p


def erf(x: np.ndarray) -> np.ndarray:
    """The error function erf(x) = 2/√π ∫₀ˣ e^{-t²} dt, elementwise.

    Computed in x's float dtype (float64 for other inputs), to within 3e-16 in float64.
    """
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    y = np.abs(x)
    out = np.full_like(y, np.nan)  # NaN is in no region below and stays NaN
    small = y <= _ERF_SMALL_LIMIT
    mid = (y > _ERF_SMALL_LIMIT) & (y <= _ERFC_MID_LIMIT)
    tail = y > _ERFC_MID_LIMIT

    ys = y[small]
    out[small] = ys * _rational(ys * ys, _ERF_SMALL_NUM, _ERF_SMALL_DEN)

    ym = y[mid]
    out[mid] = 1.0 - np.exp(-ym * ym) * _rational(ym, _ERFC_MID_NUM, _ERFC_MID_DEN)

    yt = np.minimum(y[tail], _ERFC_UNDERFLOW)
    r = 1.0 / (yt * yt)
    tail_erfc = (1 / math.sqrt(math.pi) - r * _rational(r, _ERFC_TAIL_NUM, _ERFC_TAIL_DEN)) / yt
    out[tail] = 1.0 - np.exp(-yt * yt) * tail_erfc
    return np.copysign(out, x)


def _inplace_repr(module: Module) -> str:
    return "inplace=True" if module.inplace else ""


class ReLU(Module):
    """max(x, 0); dL/dx = g · [x > 0]. ``inplace``: see the module docstring."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = bool(inplace)
        self._mask = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array(self, x)
        if not self.keeps_state:
            self._mask = None
            return np.maximum(x, 0)
        self._mask = x > 0
        return x * self._mask

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return grad_output * self._saved(self._mask)

    extra_repr = _inplace_repr


class LeakyReLU(Module):
    """x for x > 0, negative_slope · x otherwise; dL/dx = g · (1 or negative_slope)."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope = float(negative_slope)
        self.inplace = bool(inplace)
        self._mask = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array(self, x)
        mask = x > 0
        self._mask = mask if self.keeps_state else None
        return np.where(mask, x, x * self.negative_slope)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        mask = self._saved(self._mask)
        return np.where(mask, grad_output, grad_output * self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class ELU(Module):
    """x for x > 0, α(eˣ - 1) otherwise; dL/dx = g · (1 for x > 0, y + α otherwise)."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha = float(alpha)
        self.inplace = bool(inplace)
        self._y = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array(self, x)
        negative_part = np.minimum(x, 0)
        np.expm1(negative_part, out=negative_part)
        negative_part *= self.alpha
        y = np.maximum(x, 0)
        y += negative_part  # exactly one of the two parts is nonzero
        self._y = y if self.keeps_state else None
        return y

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        y = self._saved(self._y)
        return np.where(y > 0, grad_output, grad_output * (y + self.alpha))

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class Sigmoid(Module):
    """σ(x) = 1 / (1 + e⁻ˣ), computed as (1 + tanh(x/2)) / 2 so it never overflows;
    dL/dx = g · y(1 - y)."""

    def __init__(self):
        super().__init__()
        self._y = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array(self, x)
        y = sigmoid(x)
        self._y = y if self.keeps_state else None
        return y

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        y = self._saved(self._y)
        grad = np.subtract(1, y)
        grad *= y
        grad *= grad_output
        return grad


class Tanh(Module):
    """tanh(x); dL/dx = g · (1 - y²)."""

    def __init__(self):
        super().__init__()
        self._y = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array(self, x)
        y = np.tanh(x)
        self._y = y if self.keeps_state else None
        return y

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        y = self._saved(self._y)
        grad = np.square(y)
        np.subtract(1, grad, out=grad)
        grad *= grad_output
        return grad


class _Dim(Module):
    """An activation along ``dim`` (required: PyTorch's implicit choice when it is left out is deprecated)."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        if dim is None:
            raise ValueError(f"{type(self).__name__} needs the dimension to normalise over, e.g. "
                             f"{type(self).__name__}(dim=1) for (N, C) logits")
        self.dim = int(dim)
        self._y = None

    def _check_dim(self, x: np.ndarray) -> None:
        check_array(self, x)
        if not -x.ndim <= self.dim < x.ndim:
            raise ValueError(f"{self!r}: input of shape {x.shape} has no dimension {self.dim}")

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(_Dim):
    """y = exp(x) / Σ exp(x) along ``dim`` (max-shifted for stability); dL/dx = y (g - Σ g·y).

    ``dim`` is required: PyTorch's implicit choice when it is left out is deprecated.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check_dim(x)
        y = np.subtract(x, x.max(axis=self.dim, keepdims=True))
        np.exp(y, out=y)
        y /= y.sum(axis=self.dim, keepdims=True)
        self._y = y if self.keeps_state else None
        return y

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        y = self._saved(self._y)
        grad = grad_output * y
        np.subtract(grad_output, grad.sum(axis=self.dim, keepdims=True), out=grad)
        grad *= y
        return grad


class LogSoftmax(_Dim):
    """y = x - log Σ exp(x) along ``dim`` (max-shifted for stability); dL/dx = g - exp(y) · Σ g.

    ``dim`` is required, as for Softmax.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check_dim(x)
        y = np.subtract(x, x.max(axis=self.dim, keepdims=True))
        y -= np.log(np.exp(y).sum(axis=self.dim, keepdims=True))
        self._y = y if self.keeps_state else None
        return y

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        y = self._saved(self._y)
        grad = np.exp(y)
        grad *= grad_output.sum(axis=self.dim, keepdims=True)
        np.subtract(grad_output, grad, out=grad)
        return grad


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_INV_SQRT_2 = 1 / math.sqrt(2)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


class GELU(Module):
    """x · Φ(x), Φ the standard normal CDF.

    approximate='none': Φ(x) = (1 + erf(x/√2)) / 2, dy/dx = Φ(x) + x·φ(x), φ the normal density.
    approximate='tanh': Φ(x) ≈ (1 + t) / 2 with t = tanh(√(2/π)(x + 0.044715x³)),
    dy/dx = (1 + t)/2 + x/2 · (1 - t²) · √(2/π)(1 + 3·0.044715x²).
    Forward saves x and Φ(x) for backward.
    """

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate
        self._x_and_cdf = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array(self, x)
        if self.approximate == "tanh":
            cdf = np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))
            cdf += 1
            cdf *= 0.5
        else:
            cdf = erf(x * _INV_SQRT_2)
            cdf += 1
            cdf *= 0.5
        self._x_and_cdf = (x, cdf) if self.keeps_state else None
        return x * cdf

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        x, cdf = self._saved(self._x_and_cdf)
        if self.approximate == "tanh":
            t = 2 * cdf - 1
            slope = cdf + 0.5 * x * (1 - t * t) * (_SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x))
        else:
            slope = cdf + x * _INV_SQRT_2PI * np.exp(-0.5 * x * x)
        return grad_output * slope

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class _SavesInput(Module):
    """An elementwise activation whose backward needs its input x (saved in training mode only)."""

    def __init__(self):
        super().__init__()
        self._x = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array(self, x)
        self._x = x if self.keeps_state else None
        return self._apply(x)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return grad_output * self._slope(self._saved(self._x))

    def _apply(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _slope(self, x: np.ndarray) -> np.ndarray:
        """dy/dx at x."""
        raise NotImplementedError


class _SavesInputInplace(_SavesInput):
    """A _SavesInput activation that takes torch's ``inplace`` (see the module docstring)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = bool(inplace)

    extra_repr = _inplace_repr


class SiLU(_SavesInputInplace):
    """x · σ(x) (the swish); dy/dx = σ(x) · (1 + x · (1 - σ(x)))."""

    def _apply(self, x):
        return x * sigmoid(x)

    def _slope(self, x):
        s = sigmoid(x)
        return s * (1 + x * (1 - s))


class Mish(_SavesInputInplace):
    """x · tanh(softplus(x)); dy/dx = t + x · (1 - t²) · σ(x) with t = tanh(softplus(x))."""

    def _apply(self, x):
        return x * np.tanh(softplus(x))

    def _slope(self, x):
        t = np.tanh(softplus(x))
        return t + x * (1 - t * t) * sigmoid(x)


class Hardswish(_SavesInputInplace):
    """x · ReLU6(x + 3) / 6: 0 for x ≤ -3, x for x ≥ 3, x (x + 3) / 6 between;
    dy/dx = 0, 1 and x/3 + 1/2 on those ranges (torch's choice at the two kinks)."""

    def _apply(self, x):
        return x * np.clip(x + 3, 0, 6) / 6

    def _slope(self, x):
        return np.where(x <= -3, 0, np.where(x < 3, x / 3 + 0.5, 1)).astype(x.dtype, copy=False)

    def extra_repr(self) -> str:
        return ""  # torch's Hardswish shows no arguments, inplace or not


class ReLU6(_SavesInputInplace):
    """min(max(x, 0), 6); dy/dx = 1 for 0 < x < 6, else 0."""

    def _apply(self, x):
        return np.clip(x, 0, 6)

    def _slope(self, x):
        return ((x > 0) & (x < 6)).astype(x.dtype)


class Softplus(_SavesInput):
    """log(1 + e^{βx}) / β, or x where βx > threshold (as torch, for accuracy); dy/dx = σ(βx) (1 beyond)."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        if not beta > 0:
            raise ValueError(f"Softplus: beta must be positive, got {beta!r}")
        self.beta, self.threshold = float(beta), float(threshold)

    def _apply(self, x):
        scaled = x * self.beta
        return np.where(scaled > self.threshold, x, softplus(scaled) / self.beta).astype(x.dtype, copy=False)

    def _slope(self, x):
        scaled = x * self.beta
        return np.where(scaled > self.threshold, 1, sigmoid(scaled)).astype(x.dtype, copy=False)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class PReLU(Module):
    """x for x > 0, a · x otherwise, with a learned slope a: one shared (``num_parameters=1``) or
    one per channel (axis 1 of the input, ``num_parameters=C``), starting at ``init``.

    dL/dx = g · (1 for x > 0, a otherwise);  dL/da = Σ g · min(x, 0) (per channel: over every axis but 1).
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25, dtype=np.float32):
        super().__init__()
        if not isinstance(num_parameters, (int, np.integer)) or num_parameters < 1:
            raise ValueError(f"PReLU: num_parameters must be a positive int, got {num_parameters!r}")
        self.num_parameters, self.init = int(num_parameters), float(init)
        self.weight = Parameter(np.full(self.num_parameters, self.init, dtype=dtype))
        self._x = None

    def _slopes(self, x: np.ndarray) -> np.ndarray:
        """The weight shaped to broadcast against x: per channel along axis 1."""
        if self.num_parameters == 1:
            return self.weight.data.reshape((1,) * x.ndim)
        if x.ndim < 2 or x.shape[1] != self.num_parameters:
            raise ValueError(f"{self!r}: {self.num_parameters} slopes need an input with {self.num_parameters} "
                             f"channels along axis 1, got shape {x.shape}")
        return self.weight.data.reshape((self.num_parameters,) + (1,) * (x.ndim - 2))

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array(self, x)
        check_float_dtype(self, x, self.weight.dtype)
        slopes = self._slopes(x)
        self._x = x if self.keeps_state else None
        return np.where(x > 0, x, x * slopes)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        x = self._saved(self._x)
        negative = x <= 0
        contribution = grad_output * np.where(negative, x, 0)
        if self.num_parameters == 1:
            grad_a = np.array([contribution.sum()], dtype=self.weight.dtype)
        else:
            grad_a = contribution.sum(axis=(0, *range(2, x.ndim))).astype(self.weight.dtype, copy=False)
        self.weight.accumulate(grad_a)
        return np.where(negative, grad_output * self._slopes(x), grad_output)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"

