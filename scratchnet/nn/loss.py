"""Losses with ``torch.nn``'s names, arguments and reductions.

A loss is a Module called as ``loss_fn(input, target)``; it returns the loss as a 0-d NumPy
float of the input's dtype (reduction='none': the unreduced array). ``loss_fn.backward()``
then returns dL/dinput with the input's shape and dtype, ready for ``model.backward``, for an
upstream gradient of 1 (ones for 'none'). ``loss_fn.backward(g)`` takes another upstream
gradient g of the loss's shape, as ``loss.backward(g)`` does in torch: e.g. per-sample weights
w_n for ``(loss_fn(x, y) * w).sum()`` with reduction='none'. Each loss element depends only on
its own input element (or, for the class losses, its own row of logits), so

    dL/dinput = g ⊙ dloss/dinput     (g broadcast over the class axis for the class losses)
"""
from __future__ import annotations

import math

import numpy as np

from ._utils import sigmoid, softplus
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


def _broadcastable(owner: str, name: str, weight, input: np.ndarray):
    """``weight`` in the input's dtype, after checking it broadcasts to the input's shape."""
    if weight is None:
        return None
    try:
        fits = np.broadcast_shapes(weight.shape, input.shape) == input.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"{owner}: {name} of shape {weight.shape} does not broadcast to the input's shape "
            f"{input.shape}; give one value per class (the last dimension) or per sample (shape (N, 1))"
        )
    return weight.astype(input.dtype, copy=False)


class LossNotFiniteError(ValueError):
    """The loss is NaN or infinite: the model diverged or the data holds NaN."""


class _Loss(Module):
    """The reduction ('mean', 'sum' or 'none') and the backward that returns dL/dinput."""

    _reductions = _REDUCTIONS

    def __init__(self, reduction: str):
        super().__init__()
        if reduction not in self._reductions:
            raise ValueError(f"{type(self).__name__}: reduction must be one of {self._reductions}, got {reduction!r}")
        self.reduction = reduction
        self._state = None

    def __call__(self, *args, **kwargs):
        value = super().__call__(*args, **kwargs)
        self._loss_shape = np.shape(value)  # what an upstream gradient must look like
        return value

    def backward(self, grad_output=None) -> np.ndarray:
        """dL/dinput of the last training-mode call, for an upstream gradient of 1 or ``grad_output``
        (a number or an array of the loss's shape: the unreduced losses' shape for reduction='none')."""
        grad = self._gradient(*self._saved(self._state))
        if grad_output is None:
            return grad
        upstream = np.asarray(grad_output)
        if upstream.dtype.kind not in "fiub" or upstream.shape != self._loss_shape:
            raise ValueError(f"{type(self).__name__}.backward: the upstream gradient must be numbers of the "
                             f"loss's shape {self._loss_shape}, got {_describe(grad_output)}")
        upstream = upstream.astype(grad.dtype, copy=False)
        if 0 < upstream.ndim < grad.ndim:  # a class loss's per-position losses: broadcast over the classes
            upstream = np.expand_dims(upstream, 1)
        return grad * upstream

    def _reduce(self, losses: np.ndarray, mean_count) -> tuple:
        """The reduced loss and d(reduced)/d(losses): 1 for 'sum' and 'none', 1/mean_count for 'mean'
        (KLDivLoss's 'batchmean' passes the batch size as mean_count)."""
        if self.reduction == "none":
            value, scale = losses, 1.0
            finite = np.isfinite(losses).all()
        else:
            value, scale = losses.sum(), 1.0
            if self.reduction in ("mean", "batchmean"):
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


def _classes_last(input: np.ndarray) -> np.ndarray:
    """(N, C, d1, ...) -> rows (N·d1·..., C) with the classes last (a copy unless 2-D); (C,) -> (1, C)."""
    if input.ndim == 1:
        return input[None]
    return np.moveaxis(input, 1, -1).reshape(-1, input.shape[1])


def _positions(shape: tuple) -> tuple:
    """The shape without the class axis: (N, d1, ...) for (N, C, d1, ...), () for an unbatched (C,)."""
    return shape[:1] + shape[2:] if len(shape) > 1 else ()


def _classes_back(rows: np.ndarray, shape: tuple) -> np.ndarray:
    """The inverse of ``_classes_last``: rows (M, C) back to ``shape`` (N, C, d1, ...) or (C,)."""
    if len(shape) == 1:
        return rows.reshape(shape)
    return np.moveaxis(rows.reshape(shape[0], *shape[2:], shape[1]), -1, 1)


class _ClassLoss(_Loss):
    """Losses over a class axis (NLLLoss, CrossEntropyLoss): input (N, C), (N, C, d1, ...) or unbatched
    (C,); targets class indices of shape (N,), (N, d1, ...) or () (``ignore_index`` skipped), or for
    CrossEntropyLoss class probabilities of the input's shape. Computed on rows (M, C), M = N·d1·..."""

    _probabilities_allowed = False

    def __init__(self, weight, ignore_index: int, reduction: str):
        super().__init__(reduction)
        if not isinstance(ignore_index, (int, np.integer)) or isinstance(ignore_index, bool):
            raise ValueError(f"{type(self).__name__}: ignore_index must be an int, got {ignore_index!r}")
        self.ignore_index = int(ignore_index)
        if weight is None:
            self.weight = None
        else:
            self.register_buffer("weight", _class_weights(type(self).__name__, weight, "weight"))

    def _check(self, input, target) -> bool:
        """Check both; True for probability targets, False for class indices."""
        name = type(self).__name__
        if not isinstance(input, np.ndarray) or input.ndim == 0 or input.dtype.kind != "f" or input.size == 0:
            raise ValueError(f"{name} expects a non-empty float input of shape (N, C), (N, C, d1, ...) or (C,), "
                             f"got {_describe(input)}")
        c = input.shape[0] if input.ndim == 1 else input.shape[1]
        if self.weight is not None and self.weight.shape != (c,):
            raise ValueError(f"{name}: weight has shape {self.weight.shape}, but the input has {c} classes "
                             f"(shape {input.shape}); pass one weight per class")
        probabilities = (self._probabilities_allowed and isinstance(target, np.ndarray)
                         and target.dtype.kind == "f" and target.shape == input.shape)
        if probabilities:
            return True
        labels = _positions(input.shape)
        if not isinstance(target, np.ndarray) or target.dtype.kind not in "iu" or target.shape != labels:
            also = ", or class probabilities of the input's shape" if self._probabilities_allowed else ""
            raise ValueError(
                f"{name} expects integer class labels of shape {labels}, got {_describe(target)}, for logits of "
                f"shape (N, C) or (N, C, d1, ...) = {input.shape}{also}; for one-hot rows of another shape "
                "pass target.argmax(axis=1)"
            )
        valid = target[target != self.ignore_index]
        if valid.size and (valid.min() < 0 or valid.max() >= c):
            raise ValueError(
                f"{name}: labels must lie in [0, {c - 1}] for {c} classes, got labels from {valid.min()} to "
                f"{valid.max()}; does the last layer have one output per class?"
            )
        return False

    def _label_weights(self, target: np.ndarray, dtype) -> tuple:
        """Flattened labels (ignored ones replaced by 0), 1 where not ignored else 0, w[y] (0 where
        ignored), and w, all in ``dtype`` (w None when unweighted)."""
        labels = target.reshape(-1)
        valid = labels != self.ignore_index
        labels = np.where(valid, labels, 0)
        valid = valid.astype(dtype)
        weight = None if self.weight is None else self.weight.astype(dtype, copy=False)
        label_weight = valid if weight is None else weight[labels] * valid
        return labels, valid, label_weight, weight

    def _mean_over(self, label_weight: np.ndarray) -> float:
        """The divisor of 'mean': Σ w[y] over the targets that are not ignored."""
        total = label_weight.sum()
        if self.reduction == "mean" and total == 0:
            raise ValueError(f"{type(self).__name__}: every target is ignore_index={self.ignore_index} (or has "
                             "weight 0), so the mean loss is undefined; use reduction='sum' or check the targets")
        return total

    def extra_repr(self) -> str:
        text = f"reduction={self.reduction!r}"
        return text + (f", ignore_index={self.ignore_index}" if self.ignore_index != -100 else "")


class NLLLoss(_ClassLoss):
    """Negative log-likelihood of log-probabilities x (e.g. from LogSoftmax) and class labels y:

        loss_n = -w[y_n] · x[n, y_n]          (0 where y_n == ignore_index)

    over x of shape (N, C) (or (N, C, d1, ...), n running over every position). 'mean'
    divides Σ loss_n by Σ w[y_n] over the targets not ignored, 'sum' sums, 'none' returns loss
    of the target's shape. Gradient: dloss_n/dx[n, c] = -w[y_n] · [c = y_n].
    """

    def __init__(self, weight=None, *, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__(weight, ignore_index, reduction)

    def forward(self, input: np.ndarray, target: np.ndarray) -> np.ndarray:
        self._check(input, target)
        rows = _classes_last(input)
        labels, _, label_weight, _ = self._label_weights(target, input.dtype)
        losses = -label_weight * rows[np.arange(len(rows)), labels]
        value, scale = self._reduce(losses.reshape(target.shape), self._mean_over(label_weight))
        self._state = (input.shape, rows.shape, labels, label_weight, scale) if self.keeps_state else None
        return value

    @staticmethod
    def _gradient(shape, rows_shape, labels, label_weight, scale) -> np.ndarray:
        grad = np.zeros(rows_shape, dtype=label_weight.dtype)
        grad[np.arange(len(labels)), labels] = -label_weight * scale
        return _classes_back(grad, shape)


class CrossEntropyLoss(_ClassLoss):
    """Softmax cross-entropy of logits x and class labels y or class probabilities t.

    x has shape (N, C), (N, C, d1, ...) (a class axis at 1; n below runs over every position)
    or (C,). With log-probabilities log p = log_softmax(x) along the classes (max-shifted, so
    never overflowing), class weights w (default 1) and label smoothing ε, as in PyTorch:

    labels y (N,) / (N, d1, ...), skipping y_n == ignore_index (loss 0, not counted):
        loss_n = (1 - ε) · w[y_n] · (-log p[n, y_n])  +  ε/C · Σ_c w[c] · (-log p[n, c])
        'mean' divides Σ_n loss_n by Σ_n w[y_n] (N when unweighted).
        dloss_n/dx[n] = p[n] · ((1 - ε) w[y_n] + ε/C Σ_c w[c]) - (1 - ε) w[y_n] e_{y_n} - ε/C · w
    probabilities t of x's shape (float), with t' = (1 - ε) t + ε/C:
        loss_n = -Σ_c w[c] · t'[n, c] · log p[n, c];  'mean' divides by the number of rows M.
        dloss_n/dx[n] = p[n] · Σ_c w[c] t'[n, c] - w ⊙ t'[n]
    'sum' sums, 'none' returns loss_n in the target's shape (without the class axis).
    """

    _probabilities_allowed = True

    def __init__(self, weight=None, *, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0):
        super().__init__(weight, ignore_index, reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be in [0, 1], got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)

    def forward(self, input: np.ndarray, target: np.ndarray) -> np.ndarray:
        probabilities = self._check(input, target)
        rows = _classes_last(input)
        shifted = rows - rows.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        sum_exp = exp.sum(axis=1, keepdims=True)
        log_p = shifted - np.log(sum_exp)
        exp /= sum_exp  # the softmax probabilities p
        if probabilities:
            losses, state = self._soft_target_losses(log_p, _classes_last(target).astype(input.dtype, copy=False))
            count = len(rows)
        else:
            losses, state = self._label_losses(log_p, target)
            count = self._mean_over(state[2])
        value, scale = self._reduce(losses.reshape(_positions(input.shape)), count)
        self._state = (input.shape, exp, probabilities, state, scale) if self.keeps_state else None
        return value

    def _label_losses(self, log_p: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, tuple]:
        eps, c = self.label_smoothing, log_p.shape[1]
        labels, valid, label_weight, weight = self._label_weights(target, log_p.dtype)
        losses = -(1 - eps) * label_weight * log_p[np.arange(len(labels)), labels]
        if eps:
            weighted = log_p.sum(axis=1) if weight is None else log_p @ weight
            losses -= eps / c * valid * weighted  # ε/C Σ_c w[c](-log p[n, c]) where not ignored
        return losses, (labels, valid, label_weight, weight)

    def _soft_target_losses(self, log_p: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, tuple]:
        eps, c = self.label_smoothing, log_p.shape[1]
        smoothed = target * (1 - eps) + eps / c if eps else target
        if self.weight is not None:
            smoothed = smoothed * self.weight.astype(log_p.dtype, copy=False)  # w ⊙ t'
        return -(smoothed * log_p).sum(axis=1), (smoothed,)

    def _gradient(self, shape, p, probabilities, state, scale) -> np.ndarray:
        grad = p.copy()  # softmax probabilities
        if probabilities:
            (weighted_target,) = state
            grad *= weighted_target.sum(axis=1, keepdims=True)
            grad -= weighted_target
        else:
            eps, c = self.label_smoothing, p.shape[1]
            labels, valid, label_weight, weight = state
            true_class_weight = (1 - eps) * label_weight
            weight_sum = c if weight is None else weight.sum()
            grad *= (true_class_weight + eps / c * weight_sum * valid)[:, None]
            grad[np.arange(len(labels)), labels] -= true_class_weight
            if eps:
                grad -= eps / c * valid[:, None] * (1.0 if weight is None else weight)
        grad *= scale
        return _classes_back(grad, shape)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", label_smoothing={self.label_smoothing}"


class _DifferenceLoss(_Loss):
    """An elementwise loss of the difference d = x - t (target: a numeric array of the input's shape):
    loss = f(d), dloss/dx = f'(d) (times 1/numel for 'mean'). Subclasses give f and f'."""

    def forward(self, input: np.ndarray, target: np.ndarray) -> np.ndarray:
        self._check_same_shape(input, target)
        diff = np.subtract(input, target, dtype=input.dtype)
        value, scale = self._reduce(self._pointwise(diff), diff.size)
        self._state = (diff, scale) if self.keeps_state else None
        return value

    def _gradient(self, diff, scale) -> np.ndarray:
        grad = self._slope(diff)
        grad *= scale
        return grad

    def _pointwise(self, diff: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _slope(self, diff: np.ndarray) -> np.ndarray:
        """f'(d), a new array of d's dtype."""
        raise NotImplementedError


class MSELoss(_DifferenceLoss):
    """Mean squared error, elementwise: loss = (x - t)², 'mean' over all elements.

    Target: a numeric array of the input's shape (e.g. one-hot rows for sigmoid outputs).
    Gradient: dloss/dx = 2 (x - t) · (1/numel for 'mean').
    """

    def __init__(self, *, reduction: str = "mean"):
        super().__init__(reduction)

    def _pointwise(self, diff):
        return np.square(diff)

    def _slope(self, diff):
        return diff * 2


class L1Loss(_DifferenceLoss):
    """Mean absolute error, elementwise: loss = |x - t|; dloss/dx = sign(x - t) (0 where equal, as torch)."""

    def __init__(self, *, reduction: str = "mean"):
        super().__init__(reduction)

    def _pointwise(self, diff):
        return np.abs(diff)

    def _slope(self, diff):
        return np.sign(diff)


class SmoothL1Loss(_DifferenceLoss):
    """Huber-like loss with threshold β (``beta``), elementwise on d = x - t:

        loss = 0.5 d² / β  where |d| < β,   |d| - 0.5 β  otherwise   (β = 0: |d|, L1Loss)
        dloss/dx = d / β  where |d| < β,    sign(d)  otherwise
    """

    def __init__(self, *, reduction: str = "mean", beta: float = 1.0):
        super().__init__(reduction)
        if not beta >= 0:
            raise ValueError(f"SmoothL1Loss: beta must be >= 0, got {beta!r}")
        self.beta = float(beta)

    def _pointwise(self, diff):
        size = np.abs(diff)
        quadratic = 0.5 * diff * diff / (self.beta or 1.0)
        return np.where(size < self.beta, quadratic, size - 0.5 * self.beta).astype(diff.dtype, copy=False)

    def _slope(self, diff):
        quadratic = np.abs(diff) < self.beta
        return np.where(quadratic, diff / (self.beta or 1.0), np.sign(diff)).astype(diff.dtype, copy=False)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", beta={self.beta}"


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities p in [0, 1] (e.g. after Sigmoid) and targets t in [0, 1]:

        loss = -w · (t · log p + (1 - t) · log(1 - p)),  each log clamped to >= -100 (as torch)
        dloss/dp = w · (p - t) / max(p (1 - p), 1e-12)

    with w (``weight``) broadcast against p. On logits, BCEWithLogitsLoss is the stable choice.
    """

    def __init__(self, weight=None, *, reduction: str = "mean"):
        super().__init__(reduction)
        if weight is None:
            self.weight = None
        else:
            self.register_buffer("weight", _class_weights("BCELoss", weight, "weight"))

    def forward(self, input: np.ndarray, target: np.ndarray) -> np.ndarray:
        self._check_same_shape(input, target)
        if not ((input >= 0) & (input <= 1)).all():
            raise ValueError(f"BCELoss: every input must be a probability in [0, 1], got values from {input.min()} "
                             f"to {input.max()}; put a Sigmoid before it, or use BCEWithLogitsLoss on logits")
        target = target.astype(input.dtype, copy=False)
        weight = _broadcastable("BCELoss", "weight", self.weight, input)
        with np.errstate(divide="ignore"):  # log(0) = -inf, clamped to -100 as torch does
            log_p = np.maximum(np.log(input), -100)
            log_q = np.maximum(np.log1p(-input), -100)
        losses = -(target * log_p + (1 - target) * log_q)
        if weight is not None:
            losses *= weight
        value, scale = self._reduce(losses, losses.size)
        self._state = (input, target, weight, scale) if self.keeps_state else None
        return value

    @staticmethod
    def _gradient(input, target, weight, scale) -> np.ndarray:
        grad = (input - target) / np.maximum(input * (1 - input), 1e-12)
        if weight is not None:
            grad *= weight
        grad *= scale
        return grad


class KLDivLoss(_Loss):
    """Kullback-Leibler divergence, elementwise, of log-probabilities x (the input) against targets t:

        loss = t · (log t - x)          (0 where t = 0)     dloss/dx = -t
        loss = eᵗ · (t - x)             with log_target=True (t given as log-probabilities); dloss/dx = -eᵗ

    ``reduction='batchmean'`` (the true KL divergence per sample) divides the sum by the batch
    size x.shape[0]; 'mean' divides by the number of elements, as torch does (torch warns about it).
    """

    _reductions = _REDUCTIONS + ("batchmean",)

    def __init__(self, *, reduction: str = "mean", log_target: bool = False):
        super().__init__(reduction)
        self.log_target = bool(log_target)

    def forward(self, input: np.ndarray, target: np.ndarray) -> np.ndarray:
        self._check_same_shape(input, target)
        target = target.astype(input.dtype, copy=False)
        if self.log_target:
            probability = np.exp(target)
            losses = probability * (target - input)
        else:
            probability = target
            with np.errstate(divide="ignore", invalid="ignore"):
                losses = np.where(target > 0, target * np.log(target), 0) - target * input
        count = input.shape[0] if self.reduction == "batchmean" and input.ndim else input.size
        value, scale = self._reduce(losses.astype(input.dtype, copy=False), count)
        self._state = (probability, scale) if self.keeps_state else None
        return value

    @staticmethod
    def _gradient(probability, scale) -> np.ndarray:
        return probability * -scale

    def extra_repr(self) -> str:
        return super().extra_repr() + (", log_target=True" if self.log_target else "")


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
        weight = _broadcastable("BCEWithLogitsLoss", "weight", self.weight, input)
        pos_weight = _broadcastable("BCEWithLogitsLoss", "pos_weight", self.pos_weight, input)
        log1p_exp = softplus(input)
        if pos_weight is None:
            losses = log1p_exp - target * input
        else:
            positive = pos_weight * target
            losses = (1 - target + positive) * log1p_exp - positive * input
        if weight is not None:
            losses *= weight
        value, scale = self._reduce(losses, losses.size)
        self._state = (input, target, weight, pos_weight, scale) if self.keeps_state else None
        return value

    @staticmethod
    def _gradient(input, target, weight, pos_weight, scale) -> np.ndarray:
        grad = sigmoid(input)
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
