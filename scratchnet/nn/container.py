"""Containers: ``Sequential``, ``ModuleList``, ``ModuleDict``, ``Identity`` and ``Residual``.

Containers hold modules under names; ``state_dict`` keys are the names joined by dots, as
in ``torch.nn`` (``layer1.0.conv1.weight``). ``Sequential`` and ``Residual`` also compute:

    Sequential  y = f_n(... f_2(f_1(x)))      backward runs f_n ... f_1 in reverse:
                dL/dx = J_1ᵀ (J_2ᵀ (... J_nᵀ dL/dy))
    Residual    y = block(x) + shortcut(x)     (shortcut = identity when None)
                dL/dx = block.backward(dL/dy) + shortcut.backward(dL/dy)

The residual rule is the whole idea of a branch: where two paths leave the same x, their
gradients with respect to x add up; where they meet in a sum, each path receives the
same dL/dy. ``ModuleList`` and ``ModuleDict`` only hold modules: a user-written module
calls them in its own ``forward`` and ``backward``.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Iterable, Iterator, Mapping

import numpy as np

from .module import Module


class _Ordered(Module):
    """Children named by position, "0", "1", ...: ``append``, ``extend``, ``insert``, ``pop``, ``del``,
    ``len`` and iteration over the modules. As in torch, inserting or deleting renumbers the
    children "0", "1", ... in their new order (which renames the ``state_dict`` keys)."""

    def append(self, module: Module):
        """Add ``module`` at the end, named by its position."""
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]):
        """Append each of ``modules`` in turn."""
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> None:
        """Put ``module`` before position ``index`` (``len`` or beyond-the-end ``-len`` allowed, as list.insert)."""
        modules = list(self._modules.values())
        if not isinstance(index, (int, np.integer)) or not -len(modules) <= index <= len(modules):
            raise IndexError(f"{type(self).__name__}.insert: index {index!r} out of range for {len(modules)} modules")
        if not isinstance(module, Module):  # checked before _renumber empties the container
            raise TypeError(f"{type(self).__name__} holds Modules, got {type(module).__name__}")
        modules.insert(int(index), module)
        self._renumber(modules)

    def pop(self, index: int = -1) -> Module:
        """Remove the module at ``index`` (default the last) and return it."""
        module = self[index]
        del self[index]
        return module

    def __delitem__(self, index) -> None:
        """``del model[i]`` or ``del model[i:j]``; the remaining children are renumbered."""
        modules = list(self._modules.values())
        if isinstance(index, slice):
            del modules[index]
        else:
            del modules[_position(index, len(modules), type(self).__name__)]
        self._renumber(modules)

    def _renumber(self, modules: list) -> None:
        """Hold ``modules`` as the children "0", "1", ... in this order."""
        for name in list(self._modules):
            del self.__dict__[name]
        self._modules.clear()
        for position, module in enumerate(modules):
            self.add_module(str(position), module)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())


class Sequential(_Ordered):
    """Modules applied in order; backward runs them in reverse.

    ``Sequential(a, b, c)`` names its children "0", "1", "2" (keys "0.weight", ...);
    ``Sequential(OrderedDict([("conv", a), ("relu", b)]))`` uses the given names (keys
    "conv.weight", ...), as ``torch.nn.Sequential`` does. ``model[i]`` is a child,
    ``model[1:3]`` a Sequential of those children under their names.
    """

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            items = args[0].items()
        else:
            items = ((str(i), module) for i, module in enumerate(args))
        for name, module in items:
            if not isinstance(module, Module):
                raise TypeError(f"Sequential takes Modules (or one OrderedDict of them), got "
                                f"{type(module).__name__} for {name!r}")
            self.add_module(name, module)

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
        if not layers:
            return grad_output
        for layer in reversed(layers[1:]):
            grad_output = layer.backward(grad_output)
        first = layers[0]
        if not input_grad and first.can_skip_input_grad:
            return first.backward(grad_output, input_grad=False)
        return first.backward(grad_output)

    @property
    def can_skip_input_grad(self) -> bool:
        first = next(iter(self._modules.values()), None)
        return first is not None and first.can_skip_input_grad

    def __getitem__(self, index):
        items = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(OrderedDict(items[index]))
        return items[_position(index, len(items), "Sequential")][1]

    def __setitem__(self, index: int, module: Module) -> None:
        """Replace a child, keeping its name and place (``model[-1] = Linear(512, 10)``, a new head)."""
        name = list(self._modules)[_position(index, len(self), "Sequential")]
        self.add_module(name, module)


class ModuleList(_Ordered):
    """A list of modules named "0", "1", ... (``torch.nn.ModuleList``); it has no forward of its own."""

    def __init__(self, modules: Iterable[Module] | None = None):
        super().__init__()
        for module in modules or ():
            self.append(module)

    def __getitem__(self, index):
        modules = list(self._modules.values())
        if isinstance(index, slice):
            return ModuleList(modules[index])
        return modules[_position(index, len(modules), "ModuleList")]

    def __setitem__(self, index: int, module: Module) -> None:
        self.add_module(str(_position(index, len(self), "ModuleList")), module)


class ModuleDict(Module):
    """Modules by name, in insertion order (``torch.nn.ModuleDict``); it has no forward of its own."""

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def update(self, modules) -> None:
        for name, module in (modules.items() if isinstance(modules, Mapping) else modules):
            self.add_module(name, module)

    def __getitem__(self, name: str) -> Module:
        if name not in self._modules:
            raise KeyError(f"ModuleDict has no module {name!r}; it has {', '.join(self._modules) or 'none'}")
        return self._modules[name]

    def __setitem__(self, name: str, module: Module) -> None:
        self.add_module(name, module)

    def __contains__(self, name) -> bool:
        return name in self._modules

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()


class Identity(Module):
    """y = x and dL/dx = dL/dy; takes and ignores any constructor arguments, as in torch."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x

    def backward(self, grad_output):
        return grad_output


class Residual(Module):
    """y = block(x) + shortcut(x), the shortcut being the identity when None.

    x (N, *) -> y of the block's output shape, which the shortcut's must equal (a
    mismatch is reported with both shapes and this module's state_dict prefix).
    Backward: both paths receive dL/dy, and their gradients with respect to x add up,
    dL/dx = block.backward(dL/dy) + shortcut.backward(dL/dy). Children are named
    ``block`` and ``shortcut`` (keys ``block.0.weight``, ``shortcut.weight``).
    """

    def __init__(self, block: Module, shortcut: Module | None = None):
        super().__init__()
        self.block = block
        self.shortcut = shortcut if shortcut is not None else Identity()

    def forward(self, x):
        out, skip = self.block(x), self.shortcut(x)
        check_same_shape(self, out, skip)
        return out + skip

    def backward(self, grad_output):
        return self.block.backward(grad_output) + self.shortcut.backward(grad_output)


def check_same_shape(module: Module, block_out: np.ndarray, shortcut_out: np.ndarray) -> None:
    """Raise a ValueError with both shapes when a residual sum would not add arrays of one shape."""
    if block_out.shape != shortcut_out.shape:
        raise ValueError(f"{type(module).__name__}: the block's output {block_out.shape} and the shortcut's output "
                         f"{shortcut_out.shape} differ in shape and cannot be added; make the shortcut map the "
                         "input to the block's shape (e.g. a 1x1 Conv2d with the block's stride and channels)")


def _position(index, length: int, container: str) -> int:
    if not isinstance(index, (int, np.integer)) or not -length <= index < length:
        raise IndexError(f"{container} index {index!r} out of range for {length} modules")
    return int(index) % length
