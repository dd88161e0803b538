"""The modules an imported ONNX graph needs beyond the engine's layers, each with a hand-written backward.

- ``Elementwise``: ONNX's Add, Sub, Mul and Div with NumPy broadcasting, of two computed
  values (a residual sum) or of a computed value and a fixed operand (a trainable
  ``Parameter`` when the operand is a weight of the file, a constant otherwise);
- ``Erf``: the error function (PyTorch's exporter writes exact GELU as x·½·(1 + erf(x/√2)));
- ``Reshape``: ONNX's Reshape with a constant target shape (0 keeps a dimension, -1 is inferred);
- ``Identity``; ``Slice`` and ``Pad`` (ONNX Slice and Pad with constant arguments: the option-A
  shortcut of the CIFAR ResNets is a strided slice and a channel pad; a Conv2d with a
  ``padding_mode`` exports as a reflect, edge or wrap Pad before the Conv).

Multi-input modules take their inputs as positional arguments and return one gradient per
input from ``backward``, in order, as ``OnnxGraph`` expects.
"""
from __future__ import annotations

import numpy as np

from ..nn import Module, Parameter
from ..nn.activation import erf
from ..nn.padding import fold_border, widest_copied_border

_BINARY = ("Add", "Sub", "Mul", "Div")


def reduce_to_shape(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` over the axes that broadcasting stretched, giving an array of ``shape``."""
    extra = grad.ndim - len(shape)
    stretched = tuple(extra + i for i, size in enumerate(shape) if size == 1 and grad.shape[extra + i] != 1)
    axes = tuple(range(extra)) + stretched
    return grad.sum(axis=axes).reshape(shape) if axes else grad


class Elementwise(Module):
    """``y = a ∘ b`` for ∘ in Add, Sub, Mul, Div, broadcasting as NumPy (and ONNX) do.

    One operand may be fixed: ``operand`` at ``position`` 0 (left) or 1 (right), stored as
    the Parameter ``weight`` when ``trainable``, else as a constant. Backward, with g = dL/dy
    and each result summed back over broadcast axes:

        Add: dL/da = g,     dL/db = g
        Sub: dL/da = g,     dL/db = -g
        Mul: dL/da = g·b,   dL/db = g·a
        Div: dL/da = g / b, dL/db = -g·a / b²
    """

    def __init__(self, op: str, operand: np.ndarray | None = None, position: int = 1, trainable: bool = False):
        super().__init__()
        if op not in _BINARY:
            raise ValueError(f"Elementwise takes one of {', '.join(_BINARY)}, got {op!r}")
        if position not in (0, 1):
            raise ValueError(f"the fixed operand's position must be 0 or 1, got {position}")
        self.op, self.position = op, position
        self.weight = Parameter(np.array(operand, np.float32)) if operand is not None and trainable else None
        self.constant = None if operand is None or trainable else np.asarray(operand)
        self._operands = None

    def _fixed(self) -> np.ndarray | None:
        return self.weight.data if self.weight is not None else self.constant

    def forward(self, *inputs: np.ndarray) -> np.ndarray:
        fixed = self._fixed()
        expected = 2 if fixed is None else 1
        if len(inputs) != expected:
            raise ValueError(f"{self!r} takes {expected} input(s), got {len(inputs)}")
        a, b = inputs if fixed is None else ((fixed, inputs[0]) if self.position == 0 else (inputs[0], fixed))
        self._operands = (a, b) if self.keeps_state else None
        if self.op == "Add":
            return a + b
        if self.op == "Sub":
            return a - b
        if self.op == "Mul":
            return a * b
        return a / b

    def backward(self, grad_output: np.ndarray):
        a, b = self._saved(self._operands)
        g = grad_output
        if self.op == "Add":
            ga, gb = g, g
        elif self.op == "Sub":
            ga, gb = g, -g
        elif self.op == "Mul":
            ga, gb = g * b, g * a
        else:
            ga, gb = g / b, -g * a / (b * b)
        ga, gb = reduce_to_shape(ga, np.shape(a)), reduce_to_shape(gb, np.shape(b))
        if self._fixed() is None:
            return ga, gb
        if self.weight is not None:
            self.weight.accumulate(np.array((ga, gb)[self.position], dtype=self.weight.dtype))
        return gb if self.position == 0 else ga

    def extra_repr(self) -> str:
        fixed = self._fixed()
        return self.op if fixed is None else f"{self.op}, operand {'trainable' if self.weight else 'constant'} " \
                                              f"{np.shape(fixed)} at position {self.position}"


class Erf(Module):
    """``y = erf(x)``; backward ``dL/dx = g · 2/√π · exp(-x²)``."""

    def __init__(self):
        super().__init__()
        self._x = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x if self.keeps_state else None
        return erf(x).astype(x.dtype, copy=False)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        x = self._saved(self._x)
        return grad_output * (2 / np.sqrt(np.pi)) * np.exp(-x * x)


class Reshape(Module):
    """ONNX Reshape with a constant target: 0 copies the input's dimension there, -1 takes
    what is left. Backward reshapes dL/dy back to the input's shape."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        shape = tuple(int(s) for s in shape)
        if sum(s == -1 for s in shape) > 1 or any(s < -1 for s in shape):
            raise ValueError(f"a reshape target has at most one -1 and no other negative size, got {shape}")
        self.shape = shape
        self._input_shape = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        if any(s == 0 and i >= x.ndim for i, s in enumerate(self.shape)):
            raise ValueError(f"{self!r}: a 0 past the input's {x.ndim} dimensions has nothing to copy")
        target = tuple(x.shape[i] if s == 0 else s for i, s in enumerate(self.shape))
        self._input_shape = x.shape if self.keeps_state else None
        try:
            return x.reshape(target)
        except ValueError:
            raise ValueError(f"{self!r}: cannot reshape input of shape {x.shape} to {self.shape}") from None

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return grad_output.reshape(self._saved(self._input_shape))

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class Identity(Module):
    """``y = x``; backward passes dL/dy through."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return grad_output


class Slice(Module):
    """ONNX Slice with constant starts, ends, axes and steps: ``y = x[s_0, s_1, ...]`` with Python's
    slice semantics on each listed axis (which are ONNX's: negative positions count from the end,
    positions are clamped to the axis). Backward: dL/dx is zero except at the sliced elements,
    which receive dL/dy."""

    def __init__(self, starts, ends, axes, steps):
        super().__init__()
        if not len(starts) == len(ends) == len(axes) == len(steps) or 0 in steps:
            raise ValueError(f"Slice needs starts, ends, axes and nonzero steps of one length, got "
                             f"{starts}, {ends}, {axes}, {steps}")
        self.starts, self.ends = tuple(map(int, starts)), tuple(map(int, ends))
        self.axes, self.steps = tuple(map(int, axes)), tuple(map(int, steps))
        self._input_shape = None

    def _index(self, ndim: int) -> tuple:
        index = [slice(None)] * ndim
        for start, end, axis, step in zip(self.starts, self.ends, self.axes, self.steps):
            if not -ndim <= axis < ndim:
                raise ValueError(f"{self!r}: axis {axis} is out of range for an input of {ndim} dimensions")
            index[axis % ndim] = slice(start, end, step)
        return tuple(index)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._input_shape = x.shape if self.keeps_state else None
        return x[self._index(x.ndim)]

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        shape = self._saved(self._input_shape)
        grad = np.zeros(shape, dtype=grad_output.dtype)
        grad[self._index(len(shape))] = grad_output
        return grad

    def extra_repr(self) -> str:
        return f"starts={self.starts}, ends={self.ends}, axes={self.axes}, steps={self.steps}"


class Pad(Module):
    """ONNX Pad: ``pads`` = (begin_0, ..., begin_{r-1}, end_0, ..., end_{r-1}) >= 0 values around x:
    ``value`` (mode "constant"), or copies of x's own values: mirrored without the edge ("reflect"),
    the edge repeated ("edge"), the far side ("wrap"). Backward: dL/dx is dL/dy without the padding,
    plus, for the copying modes, each border cell's gradient on the value it copied
    (``nn.padding.fold_border``). A pad wider than its axis (for "reflect", as wide) is refused, so a
    file cannot make a small input allocate a huge output."""

    MODES = ("constant", "reflect", "edge", "wrap")

    def __init__(self, pads, value: float = 0.0, mode: str = "constant"):
        super().__init__()
        pads = tuple(int(p) for p in pads)
        if len(pads) % 2 or min(pads, default=0) < 0:
            raise ValueError(f"Pad takes an even number of pads >= 0, got {pads}")
        if mode not in self.MODES:
            raise ValueError(f"Pad: mode must be one of {', '.join(self.MODES)}, got {mode!r}")
        self.pads, self.value, self.mode = pads, float(value), mode
        self._input_shape = None

    def _widths(self, ndim: int) -> list[tuple[int, int]]:
        if len(self.pads) != 2 * ndim:
            raise ValueError(f"{self!r}: {len(self.pads)} pads for an input of {ndim} dimensions (need {2 * ndim})")
        return list(zip(self.pads[:ndim], self.pads[ndim:]))

    def _check(self, shape: tuple) -> None:
        widths = self._widths(len(shape))
        def limit(size):  # a copying mode's own limit, else no wider than the axis (an allocation bound)
            widest = widest_copied_border(size, self.mode)
            return max(size, 1) if widest is None else widest

        if any(max(begin, end) > limit(size) for (begin, end), size in zip(widths, shape)):
            raise ValueError(f"{self!r}: a pad is wider than its axis of the input {shape} allows; scratchnet "
                             "refuses that")

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check(x.shape)
        self._input_shape = x.shape if self.keeps_state else None
        if self.mode == "constant":
            return np.pad(x, self._widths(x.ndim), constant_values=self.value)
        return np.pad(x, self._widths(x.ndim), mode=self.mode)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        shape = self._saved(self._input_shape)
        widths = self._widths(len(shape))
        if self.mode != "constant":
            return fold_border(grad_output, widths, self.mode)
        return grad_output[tuple(slice(begin, begin + size) for (begin, _), size in zip(widths, shape))]

    def extra_repr(self) -> str:
        return f"pads={self.pads}, " + (f"value={self.value}" if self.mode == "constant" else f"mode={self.mode!r}")
