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

A module keeps the values of *one* forward (its last) for its backward. So a module may
not be called twice within one forward pass in training mode (weight sharing, or one
``self.relu`` used twice as torchvision's BasicBlock does): the second call would overwrite
what the first saved and backward would silently compute wrong gradients. Such a call
raises a RuntimeError naming the module; give each use its own module (parameter-free ones
such as ReLU cost nothing and add no state_dict keys). A forward pass is one call of the
outermost module, e.g. ``model(x)``.

Errors raised while a nested module runs forward name it by its ``state_dict`` prefix
within the outermost module (``layer2.0.shortcut: ...``).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Iterator, NamedTuple

import numpy as np

from . import grad_mode


class Parameter:
    """A trainable array ``data`` and its accumulated gradient ``grad`` (None after zero_grad).

    ``requires_grad = False`` freezes it, as in torch (``model.requires_grad_(False)`` freezes a
    whole model, e.g. a pretrained backbone before a new head is trained): its gradient stays
    None, so optimizers and gradient clipping pass it by, and layers skip computing it.
    """

    __slots__ = ("data", "grad", "_requires_grad")

    def __init__(self, data: np.ndarray, requires_grad: bool = True):
        self.data = np.ascontiguousarray(data)
        self.grad: np.ndarray | None = None
        self.requires_grad = requires_grad

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"requires_grad must be True or False, got {value!r}")
        self._requires_grad = bool(value)
        if not value:
            self.grad = None  # a frozen parameter has no gradient

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def accumulate(self, grad: np.ndarray) -> None:
        """Add ``grad`` to ``self.grad`` (nothing when frozen). ``grad`` must be a fresh array nobody else reuses."""
        if not self._requires_grad:
            return
        if self.grad is None:
            self.grad = grad
        else:
            self.grad += grad

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


def _is_device(target) -> bool:
    """True for "cpu" (or a device object whose ``type`` is "cpu"); a ValueError for any other device."""
    name = getattr(target, "type", target)
    if not isinstance(name, str) or name in np.sctypeDict:
        return False
    if name.split(":")[0] != "cpu":
        raise ValueError(f"scratchnet runs on the CPU only, so it cannot move a model to {name!r}; "
                         "use device 'cpu' (e.g. device = 'cpu')")
    return True


class _ForwardPass(threading.local):
    """The forward pass in progress on this thread: its number, its outermost module, the depth."""

    number = 0
    depth = 0
    root = None


_PASS = _ForwardPass()


class Module:
    """Base class of layers, activations, losses and containers.

    Subclasses set Parameters, sub-Modules and buffers (``register_buffer``) as attributes
    in ``__init__``; they are found by ``parameters()`` and ``state_dict()`` in the
    order they were set, as in ``torch.nn.Module``. The arguments a module was constructed
    with are kept (``init_args``), so a model spec can be written from a built model.
    """

    def __new__(cls, *args, **kwargs):
        module = super().__new__(cls)
        object.__setattr__(module, "_init_args", (args, kwargs))
        return module

    @property
    def init_args(self) -> tuple[tuple, dict]:
        """``(args, kwargs)`` as passed to the constructor."""
        return self.__dict__.get("_init_args", ((), {}))

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

    def add_module(self, name: str, module: "Module | None") -> None:
        """Register ``module`` as the child ``name`` (``torch.nn.Module.add_module``)."""
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"a module name must be a non-empty string without '.', got {name!r}")
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}.add_module({name!r}, ...) takes a Module, "
                            f"got {type(module).__name__}")
        self._modules[name] = module
        object.__setattr__(self, name, module)

    def register_buffer(self, name: str, array: np.ndarray) -> None:
        """A state array that is saved in ``state_dict`` but not trained (BatchNorm's running stats)."""
        self._buffers[name] = array
        object.__setattr__(self, name, array)

    # -- forward / backward -------------------------------------------------------
    @property
    def keeps_state(self) -> bool:
        """Whether forward keeps what backward needs: in training mode, and in eval mode inside
        ``nn.enable_grad()`` (see ``nn/grad_mode.py``). Layers test this, not ``training``, before saving."""
        return self.training or grad_mode.is_enabled()

    def __call__(self, *args, **kwargs):
        state = _PASS
        if state.depth == 0:
            state.number += 1
            state.root = self
        if self.keeps_state:
            if state.depth and self.__dict__.get("_forward_pass") == state.number:
                raise RuntimeError(self._called_twice_message())
            self.__dict__["_forward_pass"] = state.number
        state.depth += 1
        try:
            return self.forward(*args, **kwargs)
        except ValueError as err:
            _name_module(err, self)
            raise
        finally:
            state.depth -= 1
            if state.depth == 0:
                state.root = None  # the pass is over: keep no reference to the model

    def state_dict_prefix(self) -> str:
        """This module's ``state_dict`` prefix within the forward pass in progress ("" for the outermost)."""
        root = _PASS.root
        if root is None or root is self:
            return ""
        return next((name for name, m in root.named_modules() if m is self), type(self).__name__)

    def _called_twice_message(self) -> str:
        root = _PASS.root
        names = [name for name, m in root.named_modules() if m is self] if root is not None else []
        where = " and ".join(names) or type(self).__name__
        return (f"{where} ({type(self).__name__}) was called twice in one forward pass in training mode. A module "
                "keeps what its last forward saved for backward, so the second call would overwrite the first's "
                "and backward would give wrong gradients. Give each use its own module (e.g. self.relu1 and "
                "self.relu2; parameter-free modules add no state_dict keys), or share weights in eval() mode only")

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
                "nothing for backward, unless run inside `with nn.enable_grad():`)"
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

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        """Freeze (False) or unfreeze every parameter of this module and its submodules; returns it."""
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def get_submodule(self, target: str) -> "Module":
        """The submodule at dotted path ``target`` ("layer1.0.conv1"; "" is this module), as in torch."""
        module = self
        for depth, name in enumerate(target.split(".") if target else []):
            child = module._modules.get(name)
            if child is None:
                path = ".".join(target.split(".")[:depth]) or "the model"
                raise AttributeError(f"{type(module).__name__} ({path}) has no submodule {name!r}; "
                                     f"its children are {', '.join(module._modules) or 'none'}")
            module = child
        return module

    def children(self) -> Iterator["Module"]:
        return iter(self._modules.values())

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        return iter(self._modules.items())

    def apply(self, fn) -> "Module":
        """Call ``fn(module)`` on every submodule, children first, then on this one (``torch.nn.Module.apply``:
        e.g. ``model.apply(init_weights)``); returns this module."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def named_parameters(self, prefix: str = "", remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(name, Parameter) pairs; a Parameter shared by several modules (tied weights) comes once,
        under its first name, as in torch, so an optimiser steps it once and counts agree."""
        seen = set()
        for mod_name, mod in self.named_modules(prefix):
            for name, p in mod._parameters.items():
                if remove_duplicate and id(p) in seen:
                    continue
                seen.add(id(p))
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

    def summary(self, input_shape: tuple[int, ...], batch_size: int = 1):
        """Per-layer output shapes and parameters, totals and memory for a batch (``nn.summary``)."""
        from .summary import summarize  # the summary module builds on this one
        return summarize(self, input_shape, batch_size)

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

    def to(self, *targets) -> "Module":
        """Cast parameters and floating-point buffers to a dtype (np.float32 or np.float64), as torch's
        ``model.to(dtype)`` does. A device, as tutorials write ``model.to(device)``, may come
        before or instead of it: "cpu" (the only device scratchnet runs on) changes nothing."""
        dtypes = [t for t in targets if not _is_device(t)]
        if len(dtypes) > 1 or not targets:
            raise TypeError(f"Module.to() takes a device ('cpu'), a dtype or both, got {targets!r}")
        return self if not dtypes else self._cast(dtypes[0])

    def _cast(self, dtype) -> "Module":
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
        return self._cast(np.float32)

    def double(self) -> "Module":
        return self._cast(np.float64)

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

    def load_state_dict(self, state: dict, strict: bool = True) -> "IncompatibleKeys":
        """Copy arrays (NumPy or anything ``np.asarray`` takes, e.g. torch tensors) into this module.

        Returns (missing_keys, unexpected_keys) as torch does (both empty when ``strict``)."""
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
        return IncompatibleKeys(missing, unexpected)

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


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict`` did not match: this model's keys absent from the state, and the state's extra keys."""
    missing_keys: list
    unexpected_keys: list


def _name_module(err: ValueError, module: Module) -> None:
    """Prefix ``err``'s message with ``module``'s state_dict prefix, once (at the innermost module)."""
    if getattr(err, "_scratchnet_named", False):
        return
    err._scratchnet_named = True
    where = module.state_dict_prefix()
    if where and err.args and isinstance(err.args[0], str):
        err.args = (f"{where}: {err.args[0]}", *err.args[1:])

