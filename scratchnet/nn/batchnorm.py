"""Batch normalisation (``torch.nn.BatchNorm1d`` / ``BatchNorm2d``) with PyTorch's exact semantics.

Statistics are per channel c, over every other axis: for x of shape (N, C), (N, C, L) or
(N, C, H, W), M = N (·L or ·H·W) values per channel.

Training (and whenever ``track_running_stats=False``) uses the batch statistics:

    μ = mean(x),  σ² = mean((x - μ)²)   (biased),   x̂ = (x - μ) / √(σ² + eps)
    y = γ · x̂ + β                        (γ = weight, β = bias, both (C,); absent if affine=False)

and, with ``track_running_stats``, updates the buffers with f = momentum, or with
f = 1 / num_batches_tracked (a cumulative average) when momentum is None:

    running_mean = (1 - f) · running_mean + f · μ
    running_var  = (1 - f) · running_var  + f · σ² · M / (M - 1)   (unbiased, as PyTorch)

Evaluation uses the running statistics in place of μ and σ².

Backward (training mode, batch statistics), with g = dL/dy and sums over the M values
of each channel:

    dL/dβ = Σ g                      (C,)
    dL/dγ = Σ g · x̂                  (C,)
    dL/dx = γ / (M √(σ² + eps)) · (M · g - Σ g - x̂ · Σ g · x̂)     (shape of x)
"""
from __future__ import annotations

import numpy as np

from . import init
from ._utils import check_grad_output
from .kernels import batchnorm as fused
from .module import Module, Parameter
from .parallel import run_blocks, sample_blocks


class _ChannelLayout:
    """Per-channel arithmetic (a (C,) vector against (N, C, ...) arrays) in the arrays' memory layout.

    A (C, 1, 1)-shaped vector broadcasts well over channels-first memory, whose innermost run
    is a whole H·W plane. Over channels-last memory (what Conv2d returns), C varies fastest,
    and NumPy's inner loop would run over only C values at a time. So when every array given
    is channels-last, each is viewed as rows of W pixels × C channels, (N·H, W·C), and each
    vector is tiled W times to match: the same arithmetic, about twice as fast (1.0 ms instead
    of 1.8 for a scale of 128×32×26×26 floats, measured).
    """

    def __init__(self, *arrays: np.ndarray):
        self.ndim, self.width = arrays[0].ndim, arrays[0].shape[-1]
        self.channels_last = self.ndim == 4 and all(a.transpose(0, 2, 3, 1).flags.c_contiguous for a in arrays)

    def view(self, a: np.ndarray) -> np.ndarray:
        """a (or a slice of samples of it) as the vector broadcasts against; a view, never a copy."""
        if not self.channels_last:
            return a
        n, c, h, w = a.shape
        return a.transpose(0, 2, 3, 1).reshape(n * h, w * c)  # contiguous: reshape is a view

    def vector(self, v: np.ndarray) -> np.ndarray:
        """(C,) -> what broadcasts against ``view(a)``: tiled to (W·C,), or shaped (C, 1, ...)."""
        return np.tile(v, self.width) if self.channels_last else v.reshape(v.shape + (1,) * (self.ndim - 2))


def _channel_sum(a: np.ndarray) -> np.ndarray:
    """Σ a over every axis but the channel axis 1."""
    axes = "nclw"[: a.ndim]
    return np.einsum(f"{axes}->c", a)


def _channel_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Σ a·b over every axis but the channel axis 1, without a temporary product array."""
    axes = "nclw"[: a.ndim]
    return np.einsum(f"{axes},{axes}->c", a, b)


class _BatchNorm(Module):
    """Shared implementation; subclasses set the accepted input ranks in ``_ranks``."""

    _ranks: tuple[int, ...] = ()
    _layouts = {2: "(N, C)", 3: "(N, C, L)", 4: "(N, C, H, W)"}

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, dtype=np.float32):
        super().__init__()
        if not isinstance(num_features, (int, np.integer)) or num_features <= 0:
            raise ValueError(f"{type(self).__name__} needs a positive num_features, got {num_features!r}")
        if eps <= 0:
            raise ValueError(f"{type(self).__name__}: eps must be positive, got {eps}")
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"{type(self).__name__}: momentum must be in [0, 1] or None, got {momentum}")
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), momentum
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        if self.affine:
            self.weight = Parameter(init.ones_(np.empty(num_features, dtype=dtype)))
            self.bias = Parameter(init.zeros_(np.empty(num_features, dtype=dtype)))
        else:
            self.weight = self.bias = None
        if self.track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", np.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        self._state = None  # (x - μ, 1/√(σ² + eps)) saved for backward

    # -- helpers --------------------------------------------------------------------
    def _check(self, x) -> None:
        layouts = " or ".join(self._layouts[r] for r in self._ranks)
        shape = getattr(x, "shape", None)
        if not isinstance(x, np.ndarray) or x.ndim not in self._ranks or shape[1] != self.num_features:
            got = shape if isinstance(x, np.ndarray) else type(x).__name__
            raise ValueError(f"{self!r}: expected input of shape {layouts} with C={self.num_features}, got {got}")
        if x.dtype.kind != "f" or (self.affine and x.dtype != self.weight.dtype):
            raise ValueError(f"{self!r}: expected a float input matching the layer's dtype, got {x.dtype}; "
                             "convert with x.astype(np.float32) (or call model.double() for float64)")

    def _update_running_stats(self, mean: np.ndarray, var: np.ndarray, count: int) -> None:
        self.num_batches_tracked += 1
        f = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        self.running_mean *= 1 - f
        self.running_mean += f * mean
        self.running_var *= 1 - f
        self.running_var += f * var * (count / (count - 1))

    # -- forward / backward ------------------------------------------------------------
    # Every pass runs over blocks of samples in parallel (run_blocks); per-channel sums are
    # added up from the blocks' partial sums in a fixed order, so results do not depend on
    # the thread count.
    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check(x)
        if fused.supports(self, x) and (y := fused.forward(self, x)) is not None:
            return y  # compiled kernel (nn/kernels); the code below is the reference
        count = x.size // self.num_features
        blocks = sample_blocks(x)
        centered = np.empty_like(x)  # x - μ, in x's memory layout
        layout = _ChannelLayout(x, centered)
        rows = layout.view

        def center(block, mean):
            np.subtract(rows(x[block]), layout.vector(mean), out=rows(centered[block]))
            return _channel_dot(centered[block], centered[block])

        batch_stats = self.training or not self.track_running_stats
        if batch_stats:
            if count <= 1:
                raise ValueError(f"{self!r}: expected more than 1 value per channel when training, got input "
                                 f"of shape {x.shape}; use a batch of at least 2 samples")
            mean = sum(run_blocks(lambda b: _channel_sum(x[b]), blocks)) / count
            var = sum(run_blocks(lambda b: center(b, mean), blocks)) / count  # biased
            if self.training and self.track_running_stats:
                self._update_running_stats(mean, var, count)
        else:
            mean, var = self.running_mean, self.running_var
            run_blocks(lambda b: center(b, mean), blocks)
        inv_std = (1.0 / np.sqrt(var + self.eps)).astype(x.dtype)
        scale = layout.vector(inv_std * self.weight.data if self.affine else inv_std)
        shift = layout.vector(self.bias.data) if self.affine else None
        keep = self.keeps_state
        y = np.empty_like(x) if keep else centered  # nothing kept (eval): reuse it

        def normalise(block):  # y = (x - μ)·γ/√(σ²+eps) + β
            np.multiply(rows(centered[block]), scale, out=rows(y[block]))
            if self.affine:
                rows(y[block])[...] += shift

        run_blocks(normalise, blocks)
        self._state = (centered, inv_std, batch_stats) if keep else None
        return y

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        centered, inv_std, batch_stats = self._saved(self._state)
        check_grad_output(self, grad_output, centered.shape)
        if not batch_stats:
            return self._running_stats_backward(grad_output, centered, inv_std)
        if fused.enabled() and (grad_input := fused.backward(self, grad_output)) is not None:
            return grad_input  # compiled kernel (nn/kernels); the code below is the reference
        count = centered.size // self.num_features
        blocks = sample_blocks(centered)
        partial = run_blocks(lambda b: (_channel_sum(grad_output[b]), _channel_dot(grad_output[b], centered[b])),
                             blocks)
        sum_g = sum(p[0] for p in partial)
        sum_g_xhat = sum(p[1] for p in partial) * inv_std  # Σ g·x̂
        if self.affine:
            self.weight.accumulate(sum_g_xhat)
            self.bias.accumulate(sum_g)
        k = inv_std * self.weight.data if self.affine else inv_std  # γ/√(σ²+eps)
        # dx = k·g - k·x̂·Σg·x̂/M - k·Σg/M, with x̂ = centered·inv_std
        grad_input = np.empty_like(centered)
        layout = _ChannelLayout(grad_output, centered, grad_input)
        rows = layout.view
        g_coef, offset = layout.vector(k), layout.vector(k * sum_g / count)
        centered_coef = layout.vector(k * inv_std * sum_g_xhat / count)

        def input_grad(block):
            dx = rows(grad_input[block])
            np.multiply(rows(grad_output[block]), g_coef, out=dx)
            dx -= rows(centered[block]) * centered_coef
            dx -= offset

        run_blocks(input_grad, blocks)
        return grad_input

    def _running_stats_backward(self, grad_output: np.ndarray, centered: np.ndarray, inv_std: np.ndarray):
        """Eval mode (inside nn.enable_grad()): μ and σ² are the running statistics, constants, so
        y = x̂·γ + β is affine in x: dL/dx = g·γ/√(σ²+eps), dL/dγ = Σ g·x̂, dL/dβ = Σ g."""
        if self.affine:
            self.weight.accumulate(_channel_dot(grad_output, centered) * inv_std)
            self.bias.accumulate(_channel_sum(grad_output))
        k = inv_std * self.weight.data if self.affine else inv_std
        return grad_output * k.reshape(k.shape + (1,) * (grad_output.ndim - 2))

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """``torch.nn.BatchNorm1d`` for (N, C) or (N, C, L) inputs."""

    _ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """``torch.nn.BatchNorm2d`` for (N, C, H, W) inputs."""

    _ranks = (4,)
