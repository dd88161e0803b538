"""Engine helpers shared by the layers: pair arguments, output sizes, input and gradient checks,
and the overflow-free sigmoid and softplus that activations and losses share.

One place for what every spatial layer needs, so Conv2d, the pools and the zoo compute
a window's output size the same way and every layer words its errors alike:

    output_size = floor((size + 2·padding - dilation·(kernel - 1) - 1) / stride) + 1

(``ceil_mode`` rounds up instead, as in PyTorch, dropping a last window that would start
in the right padding).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # only for annotations: the helpers never need the class itself
    from .module import Module


def as_pair(value, name: str, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints, as torch's kernel_size/stride/padding, checked to be >= minimum."""
    if isinstance(value, (int, np.integer)):
        pair = (value, value)
    else:
        pair = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and v >= minimum for v in pair):
        raise ValueError(f"{name} must be an int or a pair of ints >= {minimum}, got {value!r}")
    return int(pair[0]), int(pair[1])


def output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1,
                ceil_mode: bool = False) -> int:
    """Output length along one axis of a sliding window, PyTorch's rule.

    With the window's extent e = dilation·(kernel - 1) + 1:
    floor((size + 2·padding - e) / stride) + 1, or with ``ceil_mode`` the ceiling, less one
    when the last window would start inside the right padding.
    """
    span = size + 2 * padding - (dilation * (kernel - 1) + 1)
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    if (out - 1) * stride >= size + padding:
        out -= 1
    return out


def check_window_fits(module: Module, x: np.ndarray, kernel: tuple, padding: tuple,
                      dilation: tuple = (1, 1)) -> None:
    """Raise a ValueError naming ``module`` when the (dilated) kernel is larger than the padded input.

    ``padding`` per axis: an int padded on both sides, or a (before, after) pair.
    """
    padded = tuple(size + (sum(p) if isinstance(p, tuple) else 2 * p) for size, p in zip(x.shape[-2:], padding))
    extent = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if padded[0] < extent[0] or padded[1] < extent[1]:
        dilated = "" if tuple(dilation) == (1, 1) else f" (dilated to {extent[0]}x{extent[1]})"
        raise ValueError(
            f"{module!r}: input of shape {x.shape} is {padded[0]}x{padded[1]} after padding, smaller "
            f"than the {kernel[0]}x{kernel[1]} kernel{dilated}; use larger images, more padding or a smaller kernel"
        )


def check_array(module: Module, x) -> None:
    """The cheap hot-path check: raise a ValueError naming ``module`` unless ``x`` is an ndarray."""
    if not isinstance(x, np.ndarray):
        raise ValueError(
            f"{module!r}: expected a NumPy array, got {type(x).__name__}; "
            "convert with np.asarray(x, dtype=np.float32)"
        )


def check_input(module: Module, x, expected: tuple, dtype=None) -> None:
    """Raise a ValueError naming ``module`` when ``x`` is not a float array of shape ``expected``.

    ``expected`` holds ints, or None for a free dimension such as the batch size;
    ``dtype`` (the parameters' dtype) if given must match.
    """
    shape = getattr(x, "shape", None)
    ok = (
        isinstance(x, np.ndarray)
        and len(shape) == len(expected)
        and all(e is None or e == s for e, s in zip(expected, shape))
    )
    if not ok:
        want = "(" + ", ".join("N" if e is None else str(e) for e in expected) + ")"
        got = shape if isinstance(x, np.ndarray) else type(x).__name__
        raise ValueError(f"{module!r}: expected input of shape {want}, got {got}")
    check_float_dtype(module, x, dtype)


def check_float_dtype(module: Module, x: np.ndarray, dtype=None) -> None:
    """Raise a ValueError naming ``module`` unless x is floating point (and of ``dtype`` if given)."""
    if x.dtype.kind != "f" or (dtype is not None and x.dtype != dtype):
        want_dtype = dtype if dtype is not None else "a floating dtype"
        raise ValueError(
            f"{module!r}: expected input of dtype {want_dtype}, got {x.dtype}; "
            "convert with x.astype(np.float32) (or call model.double() for float64)"
        )


def check_grad_output(module: Module, grad_output, expected: tuple) -> None:
    """Raise a ValueError naming ``module`` unless ``grad_output`` has the shape of its last output."""
    if getattr(grad_output, "shape", None) != tuple(expected):
        raise ValueError(f"{module!r}: expected grad_output of shape {tuple(expected)}, "
                         f"got {getattr(grad_output, 'shape', type(grad_output).__name__)}")


def sigmoid(x: np.ndarray) -> np.ndarray:
    """σ(x) = 1 / (1 + e⁻ˣ), computed as (1 + tanh(x/2)) / 2 so it never overflows; a new array."""
    y = np.multiply(x, 0.5)
    np.tanh(y, out=y)
    y += 1
    y *= 0.5
    return y


def softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + eˣ) = max(x, 0) + log1p(e^-|x|), never overflowing; a new array."""
    y = np.abs(x)
    np.negative(y, out=y)
    np.exp(y, out=y)
    np.log1p(y, out=y)
    y += np.maximum(x, 0)
    return y
