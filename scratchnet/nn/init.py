"""Weight initialisers, in place, with ``torch.nn.init``'s names and formulas.

fan_in / fan_out of a weight of shape (out, in, *kernel) are ``in * prod(kernel)`` and
``out * prod(kernel)``. Each function fills ``param.data`` (or an ndarray) and returns it.
"""
from __future__ import annotations

import contextlib
import math
import threading

import numpy as np

from ..random import resolve
from .module import Parameter


def _array(tensor) -> np.ndarray:
    return tensor.data if isinstance(tensor, Parameter) else tensor


def _fans(a: np.ndarray) -> tuple[int, int]:
    if a.ndim < 2:
        raise ValueError(f"fan in and fan out need an array of at least 2 dimensions, got shape {a.shape}")
    receptive = int(np.prod(a.shape[2:])) if a.ndim > 2 else 1
    return a.shape[1] * receptive, a.shape[0] * receptive


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """Recommended gain for an activation, as ``torch.nn.init.calculate_gain``."""
    gains = {"linear": 1.0, "conv2d": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3, "relu": math.sqrt(2.0), "selu": 0.75}
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity not in gains:
        raise ValueError(f"unknown nonlinearity {nonlinearity!r}; choose from {sorted(gains) + ['leaky_relu']}")
    return gains[nonlinearity]


def _fan(a: np.ndarray, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(a)
    return fan_in if mode == "fan_in" else fan_out


_skipping = threading.local()


@contextlib.contextmanager
def skip_init():
    """Within this block (in this thread) ``uniform_`` and ``normal_`` leave their arrays as they
    are: layers built here keep the uninitialised ``np.empty`` memory, which the system provides
    only when written, and draw no float64 random numbers. For weights about to be loaded (the
    purpose of ``torch.nn.utils.skip_init``)."""
    previous = getattr(_skipping, "on", False)
    _skipping.on = True
    try:
        yield
    finally:
        _skipping.on = previous


def uniform_(tensor, a: float = 0.0, b: float = 1.0, generator=None):
    arr = _array(tensor)
    if not getattr(_skipping, "on", False):
        arr[...] = resolve(generator).uniform(a, b, size=arr.shape)
    return tensor


def normal_(tensor, mean: float = 0.0, std: float = 1.0, generator=None):
    arr = _array(tensor)
    if not getattr(_skipping, "on", False):
        arr[...] = resolve(generator).normal(mean, std, size=arr.shape)
    return tensor


def zeros_(tensor):
    _array(tensor)[...] = 0
    return tensor


def ones_(tensor):
    _array(tensor)[...] = 1
    return tensor


def constant_(tensor, val: float):
    """Fill with ``val`` (``torch.nn.init.constant_``, e.g. ``constant_(m.bias, 0)``)."""
    _array(tensor)[...] = val
    return tensor


def xavier_uniform_(tensor, gain: float = 1.0, generator=None):
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    fan_in, fan_out = _fans(_array(tensor))
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor, gain: float = 1.0, generator=None):
    """N(0, std²) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(_array(tensor))
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def kaiming_uniform_(tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator=None):
    """U(-b, b) with b = gain * sqrt(3 / fan) (He et al., 2015)."""
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(_array(tensor), mode))
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator=None):
    """N(0, std²) with std = gain / sqrt(fan)."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(_array(tensor), mode))
    return normal_(tensor, 0.0, std, generator)


def default_weight_and_bias_(weight, bias=None, generator=None) -> None:
    """PyTorch's default for Linear and Conv2d: kaiming_uniform_(a=√5), i.e. U(±1/√fan_in), for
    the weight, and U(±1/√fan_in) for the bias."""
    kaiming_uniform_(weight, a=math.sqrt(5), generator=generator)
    if bias is not None:
        fan_in, _ = _fans(_array(weight))
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        uniform_(bias, -bound, bound, generator)
