"""Module and Parameter: the base of every layer, with PyTorch's names and semantics.

A module computes ``y = f(x; θ)`` in ``forward`` (called through ``module(x)``) and,
given ``dL/dy``, returns ``dL/dx`` from ``backward`` while *adding* ``dL/dθ`` to each
parameter's ``grad``. Gradients accumulate across backward calls until ``zero_grad()``,
exactly as in PyTorch, so one training step reads::

    logits = model(x)
    loss = loss_fn(logits, y)
    model.backward(loss_fn.backward())
    opt.step()
    opt.zero_grad()

Whatever ``backward`` needs is saved by ``forward`` only in training mode; in
``eval()`` mode a forward keeps nothing, so inference costs no extra memory.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Iterator

import numpy as np


class Parameter:
    """A trainable array ``data`` and its accumulated gradient ``grad`` (None after zero_grad)."""

    __slots__ = ("data", "grad")

    def __init__(self, data: np.ndarray):
        self.data = np.ascontiguousarray(data)
        self.grad: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def accumulate(self, grad: np.ndarray) -> None:
        """Add ``grad`` to ``self.grad``. ``grad`` must be a fresh array nobody else reuses."""
        if self.grad is None:
            self.grad = grad
        else:
            self.grad += grad

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class of layers, activations, losses and containers.

    Subclasses set Parameters, sub-Modules and buffers (``register_buffer``) as attributes
    in ``__init__``; they are found by ``parameters()`` and ``state_dict()`` in the
    order they were set, as in ``torch.nn.Module``.
    """

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # -- registration -------------------------------------------------------------
    def __setattr__(self, name: str, value) -> None:
        d = self.__dict__
        if "_parameters" not in d:
            raise RuntimeError(f"{type(self).__name__}.__init__ must call super().__init__() first")
        # Fast path: forward() saves arrays for backward on every call; keep that cheap.
        if not isinstance(value, (Parameter, Module)) and name not in d["_parameters"] \
                and name not in d["_buffers"] and name not in d["_modules"]:
            d[name] = value
            return
        params, buffers, modules = d["_parameters"], d["_buffers"], d["_modules"]
        if isinstance(value, Parameter):
            params[name] = value
        elif isinstance(value, Module):
            modules[name] = value
        elif name in buffers:
            buffers[name] = value
        elif name in params:  # e.g. ``self.bias = None``
            del params[name]
        else:
            del modules[name]
        d[name] = value

    def register_buffer(self, name: str, array: np.ndarray) -> None:
        """A state array that is saved in ``state_dict`` but not trained (BatchNorm's running stats)."""
        self._buffers[name] = array
        object.__setattr__(self, name, array)

    # -- forward / backward -------------------------------------------------------
    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")

    #: True for layers whose ``backward(grad_output, input_grad=False)`` skips dL/dx.
    can_skip_input_grad = False

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} does not implement backward")

    def _saved(self, value):
        """Return what forward saved for backward, or explain why there is nothing."""
        if value is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward() was called without a forward pass in training "
                "mode before it; call model.train() and run forward first (eval() forwards keep "
                "nothing for backward)"
            )
        return value

    # -- traversal ----------------------------------------------------------------
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def children(self) -> Iterator["Module"]:
        return iter(self._modules.values())

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        for mod_name, mod in self.named_modules(prefix):
            for name, p in mod._parameters.items():
                yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        for mod_name, mod in self.named_modules(prefix):
            for name, b in mod._buffers.items():
                yield (f"{mod_name}.{name}" if mod_name else name), b

    def num_parameters(self) -> int:
        return sum(p.data.size for p in self.parameters())

    # -- modes, gradients, dtype --------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def to(self, dtype) -> "Module":
        """Cast parameters and floating-point buffers to ``dtype`` (np.float32 or np.float64)."""
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise ValueError(f"Module.to() takes a floating dtype such as np.float32, got {dtype}")
        for m in self.modules():
            for p in m._parameters.values():
                p.data = p.data.astype(dtype)
                p.grad = None
            for name, b in list(m._buffers.items()):
                if b is not None and b.dtype.kind == "f":
                    setattr(m, name, b.astype(dtype))
        return self

    def float(self) -> "Module":
        return self.to(np.float32)

    def double(self) -> "Module":
        return self.to(np.float64)

    # -- state --------------------------------------------------------------------
    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Copies of every parameter and buffer, keyed as ``torch.nn`` keys them."""
        state = OrderedDict()
        for mod_name, mod in self.named_modules():
            prefix = f"{mod_name}." if mod_name else ""
            for name, p in mod._parameters.items():
                state[prefix + name] = p.data.copy()
            for name, b in mod._buffers.items():
                state[prefix + name] = np.array(b, copy=True)
        return state

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        """Copy arrays (NumPy or anything ``np.asarray`` takes, e.g. torch tensors) into this module."""
        own = OrderedDict()
        for mod_name, mod in self.named_modules():
            prefix = f"{mod_name}." if mod_name else ""
            for name in mod._parameters:
                own[prefix + name] = (mod, name, True)
            for name in mod._buffers:
                own[prefix + name] = (mod, name, False)
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(
                f"state_dict does not match {type(self).__name__}: missing keys {missing}, "
                f"unexpected keys {unexpected}; was it saved from a different architecture?"
            )
        for key, (mod, name, is_param) in own.items():
            if key not in state:
                continue
            value = np.asarray(state[key])
            target = mod._parameters[name].data if is_param else mod._buffers[name]
            if value.shape != target.shape:
                raise ValueError(
                    f"state_dict['{key}'] has shape {value.shape}, but this model's {key} has "
                    f"shape {target.shape}; the architectures differ"
                )
            np.copyto(target, value, casting="unsafe")

    # -- printing -----------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not self._modules:
            return head + ")"
        lines = [head]
        for name, child in self._modules.items():
            child_repr = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child_repr}")
        return "\n".join(lines) + "\n)"


class Sequential(Module):
    """Modules applied in order; backward runs them in reverse. Keys are "0.weight", "1.bias", ..."""

    def __init__(self, *layers: Module):
        super().__init__()
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential takes Modules, got {type(layer).__name__} at position {i}")
            setattr(self, str(i), layer)

    def forward(self, x):
        for layer in self._modules.values():
            x = layer(x)
        return x

    def backward(self, grad_output, input_grad: bool = True):
        """Backpropagate through the layers in reverse; returns dL/dx.

        ``input_grad=False`` (the training loop's choice: nobody needs dL/d(images)) lets
        the first layer skip computing it, as PyTorch does for inputs that need no
        gradient; then None is returned.
        """
        layers = list(self._modules.values())
        for layer in reversed(layers[1:]):
            grad_output = layer.backward(grad_output)
        first = layers[0]
        if not input_grad and first.can_skip_input_grad:
            return first.backward(grad_output, input_grad=False)
        return first.backward(grad_output)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index: int) -> Module:
        return list(self._modules.values())[index]

