"""Losses with ``torch.nn``'s names, arguments and reductions.

A loss is a Module called as ``loss_fn(input, target)``; it returns the loss as a 0-d NumPy
float of the input's dtype (reduction='none': the unreduced array). ``loss_fn.backward()``
then takes no argument (the upstream gradient is 1, or ones for 'none') and returns
dL/dinput with the input's shape and dtype, ready for ``model.backward``.
"""
from __future__ import annotations

import math

import numpy as np

from .module import Module

_REDUCTIONS = ("mean", "sum", "none")


def _describe(x) -> str:
    if isinstance(x, np.ndarray):
        return f"an array of shape {x.shape} and dtype {x.dtype}"
    return f"a {type(x).__name__}"


def _class_weights(name: str, weight, what: str) -> np.ndarray:
    """Copy user-given per-class weights as a float array (float32 unless given as float)."""
    weight = np.array(weight)
    if weight.dtype.kind not in "fiu" or weight.ndim == 0:
        raise ValueError(f"{name}: {what} must be a 1-D array of numbers, got {_describe(weight)}")
    return weight.astype(weight.dtype if weight.dtype.kind == "f" else np.float32)


class LossNotFiniteError(ValueError):
    """The loss is NaN or infinite: the model diverged or the data holds NaN."""


class _Loss(Module):
    """The reduction ('mean', 'sum' or 'none') and the backward that returns dL/dinput."""

    def __init__(self, reduction: str):
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction
        self._state = None

    def backward(self) -> np.ndarray:
        """dL/dinput of the last training-mode call, for an upstream gradient of 1."""
        return self._gradient(*self._saved(self._state))

    def _reduce(self, losses: np.ndarray, mean_count) -> tuple:
        """The reduced loss and d(reduced)/d(losses): 1 for 'sum' and 'none', 1/mean_count for 'mean'."""
        if self.reduction == "none":
            value, scale = losses, 1.0
            finite = np.isfinite(losses).all()
        else:
            value, scale = losses.sum(), 1.0
            if self.reduction == "mean":
                value, scale = value / mean_count, 1 / mean_count
            finite = math.isfinite(value)
        if not finite:
            raise LossNotFiniteError(
                f"{type(self).__name__}: the loss is not finite because the input contains NaN or "
                "infinity; the model has likely diverged (lower the learning rate) or the data holds NaN"
            )
        return value, scale

    def _check_same_shape(self, input, target) -> None:
        if not isinstance(input, np.ndarray) or input.dtype.kind != "f":
            raise ValueError(f"{type(self).__name__}: input must be a float array, got {_describe(input)}")
        if not isinstance(target, np.ndarray) or target.dtype.kind not in "fiub" or target.shape != input.shape:
            raise ValueError(
                f"{type(self).__name__}: target must be a numeric array of the input's shape {input.shape}, "
                f"got {_describe(target)}; for class labels, one-hot encode them first"
            )

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy on logits x of shape (N, C) (only this shape) and integer labels y (N,).

    With log-probabilities log p = log_softmax(x) (computed max-shifted, so never overflowing),
    class weights w (default 1) and label smoothing ε, as in PyTorch::

        loss_n = (1 - ε) · w[y_n] · (-log p[n, y_n])  +  ε/C · Σ_c w[c] · (-log p[n, c])

    'mean' divides Σ_n loss_n by Σ_n w[y_n] (N when unweighted), 'sum' sums, 'none' returns loss_n.
    Gradient: dloss_n/dx[n] = p[n] · ((1 - ε) w[y_n] + ε/C Σ_c w[c]) - (1 - ε) w[y_n] e_{y_n} - ε/C · w.
    """

    def __init__(self, weight=None, *, reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be in [0, 1], got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)
        if weight is None:
            self.weight = None
        else:
            self.register_buffer("weight", _class_weights("CrossEntropyLoss", weight, "weight"))

    def forward(self, input: np.ndarray, target: np.ndarray) -> np.ndarray:
        n, c = self._check(input, target)
        eps = self.label_smoothing
        shifted = input - input.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        sum_exp = exp.sum(axis=1, keepdims=True)
        log_sum_exp = np.log(sum_exp).reshape(n)
        nll = log_sum_exp - shifted[np.arange(n), target]  # -log p[n, y_n]
        if self.weight is None:
            weight, target_weight, weight_sum, count = None, 1.0, c, n
        else:
            weight = self.weight.astype(input.dtype, copy=False)
            target_weight = weight[target]
            weight_sum, count = weight.sum(), target_weight.sum()
        losses = nll * ((1 - eps) * target_weight)
        if eps:
            weighted_shifted = shifted.sum(axis=1) if weight is None else shifted @ weight
            losses += eps / c * (weight_sum * log_sum_exp - weighted_shifted)  # ε/C Σ_c w[c](-log p[n, c])
        value, scale = self._reduce(losses, count)
        self._state = (exp, sum_exp, target, weight, target_weight, weight_sum, scale) if self.training else None
        return value

    def _gradient(self, exp, sum_exp, target, weight, target_weight, weight_sum, scale) -> np.ndarray:
        eps, (n, c) = self.label_smoothing, exp.shape
        true_class_weight = (1 - eps) * target_weight
        total_weight = true_class_weight + eps / c * weight_sum  # Σ_c of the target distribution
        grad = exp / sum_exp  # softmax probabilities
        grad *= total_weight if weight is None else total_weight[:, None]
        grad[np.arange(n), target] -= true_class_weight
        if eps:
            grad -= eps / c * (1.0 if weight is None else weight)
        grad *= scale
        return grad

    def _check(self, input, target) -> tuple[int, int]:
        if not isinstance(input, np.ndarray) or input.ndim != 2 or input.dtype.kind != "f" or input.shape[0] == 0:
            raise ValueError(
                f"CrossEntropyLoss expects float logits of shape (N, C) with N > 0, got {_describe(input)}; "
                "flatten other dimensions into N first"
            )
        n, c = input.shape
        if not isinstance(target, np.ndarray) or target.dtype.kind not in "iu" or target.shape != (n,):
            raise ValueError(
                f"CrossEntropyLoss expects integer class labels of shape ({n},), got {_describe(target)}; "
                "for one-hot or probability targets pass target.argmax(axis=1)"
            )
        low, high = target.min(), target.max()
        if low < 0 or high >= c:
            raise ValueError(
                f"CrossEntropyLoss: labels must lie in [0, {c - 1}] for {c} classes, got labels from {low} to "
                f"{high}; does the last layer have one output per class?"
            )
        if self.weight is not None and self.weight.shape != (c,):
            raise ValueError(
                f"CrossEntropyLoss: weight has shape {self.weight.shape}, but the logits have {c} classes; "
                f"pass one weight per class"
            )
        return n, c

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, label_smoothing={self.label_smoothing}"


class MSELoss(_Loss):
    """Mean squared error, elementwise: loss = (x - t)², 'mean' over all elements.

    Target: a numeric array of the input's shape (e.g. one-hot rows for sigmoid outputs).
    Gradient: dloss/dx = 2 (x - t) · (1/numel for 'mean').
    """

    def __init__(self, *, reduction: str = "mean"):
        super().__init__(reduction)

    def forward(self, input: np.ndarray, target: np.ndarray) -> np.ndarray:
        self._check_same_shape(input, target)
        diff = np.subtract(input, target, dtype=input.dtype)
        value, scale = self._reduce(np.square(diff), diff.size)
        self._state = (diff, scale) if self.training else None
        return value

    @staticmethod
    def _gradient(diff, scale) -> np.ndarray:
        return diff * (2 * scale)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid + binary cross-entropy in one stable step, on logits x and targets t in [0, 1].

    With softplus(x) = log(1 + eˣ) = max(x, 0) + log1p(e^-|x|), weight w and pos_weight P
    (broadcast against x; P along the last, class, dimension), as in PyTorch::

        loss = w · (P·t·softplus(-x) + (1 - t)·softplus(x)) = w · ((1 + (P-1)t)·softplus(x) - P·t·x)

    'mean' averages over all elements. Gradient: dloss/dx = w · ((1 + (P-1)t)·σ(x) - P·t).
    """

    def __init__(self, weight=None, *, reduction: str = "mean", pos_weight=None):
        super().__init__(reduction)
        for name, value in (("weight", weight), ("pos_weight", pos_weight)):
            if value is None:
                setattr(self, name, None)
            else:
                self.register_buffer(name, _class_weights("BCEWithLogitsLoss", value, name))

    def forward(self, input: np.ndarray, target: np.ndarray) -> np.ndarray:
        self._check_same_shape(input, target)
        target = target.astype(input.dtype, copy=False)
        weight = self._broadcastable("weight", self.weight, input)
        pos_weight = self._broadcastable("pos_weight", self.pos_weight, input)
        softplus = np.abs(input)
        np.negative(softplus, out=softplus)
        np.exp(softplus, out=softplus)
        np.log1p(softplus, out=softplus)
        softplus += np.maximum(input, 0)
        if pos_weight is None:
            losses = softplus - target * input
        else:
            positive = pos_weight * target
            losses = (1 - target + positive) * softplus - positive * input
        if weight is not None:
            losses *= weight
        value, scale = self._reduce(losses, losses.size)
        self._state = (input, target, weight, pos_weight, scale) if self.training else None
        return value

    @staticmethod
    def _gradient(input, target, weight, pos_weight, scale) -> np.ndarray:
        grad = np.multiply(input, 0.5)
        np.tanh(grad, out=grad)
        grad += 1
        grad *= 0.5  # σ(x) = (1 + tanh(x/2)) / 2
        if pos_weight is None:
            grad -= target
        else:
            positive = pos_weight * target
            grad *= 1 - target + positive
            grad -= positive
        if weight is not None:
            grad *= weight
        grad *= scale
        return grad

    @staticmethod
    def _broadcastable(name: str, weight, input: np.ndarray):
        """``weight`` in the input's dtype, after checking it broadcasts to the input's shape."""
        if weight is None:
            return None
        try:
            fits = np.broadcast_shapes(weight.shape, input.shape) == input.shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(
                f"BCEWithLogitsLoss: {name} of shape {weight.shape} does not broadcast to the input's shape "
                f"{input.shape}; give pos_weight one value per class (the last dimension)"
            )
        return weight.astype(input.dtype, copy=False)
