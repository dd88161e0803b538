"""A model's per-layer summary, like Keras's ``model.summary()`` or torchinfo: for each module,
in the order it runs, the shape of its output and its parameters; then the totals and the
memory a batch takes.

One forward pass in eval mode on a zero batch of one image records every module's output
(each module's ``forward`` is wrapped for the pass, so nested containers, residual blocks and
modules called twice all appear, indented by depth); the model's modes are restored after.
Memory for a batch of B: the parameters (and as much again for their gradients when
training), plus the layer outputs of the forward pass, B times those of one image; training
keeps roughly those outputs for backward, evaluation only the largest few at a time.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .module import Module

MIB = 1 << 20


@dataclass(frozen=True)
class LayerRow:
    """One call of one module: its name in the model ("" for the model itself), nesting depth,
    description, output shape without the batch dimension, own and total parameter counts."""

    name: str
    depth: int
    description: str
    output_shape: tuple[int, ...]
    own_parameters: int
    parameters: int
    leaf: bool
    output_bytes: int


@dataclass(frozen=True)
class Summary:
    """What ``summarize`` found; ``str(summary)`` is the table."""

    model_name: str
    input_shape: tuple[int, ...]
    batch_size: int
    rows: tuple[LayerRow, ...]
    total_parameters: int
    parameter_bytes: int
    itemsize: int

    @property
    def activation_bytes(self) -> int:
        """Bytes of every leaf module's output for a batch of ``batch_size``."""
        return self.batch_size * sum(row.output_bytes for row in self.rows if row.leaf)

    @property
    def input_bytes(self) -> int:
        return self.batch_size * int(np.prod(self.input_shape)) * self.itemsize

    def __str__(self) -> str:
        return format_summary(self)

    __repr__ = __str__


def summarize(model: Module, input_shape: tuple[int, ...], batch_size: int = 1) -> Summary:
    """The summary of ``model`` on inputs of ``input_shape`` (one sample's shape, e.g. (1, 28, 28)),
    with memory figures for batches of ``batch_size``. ValueError if the model refuses the shape."""
    input_shape = tuple(int(d) for d in input_shape)
    if not input_shape or min(input_shape) < 1 or batch_size < 1:
        raise ValueError(f"input_shape must be positive sizes such as (1, 28, 28), got {input_shape}; "
                         f"batch_size must be >= 1, got {batch_size}")
    dtype = next((p.data.dtype for p in model.parameters()), np.dtype(np.float32))
    names = {id(module): name for name, module in model.named_modules()}
    calls: list[tuple[Module, int]] = []  # (module, depth) in call order
    shapes: dict[int, tuple] = {}  # index in calls -> (output shape, bytes)
    depth = [0]

    def wrap(module: Module):
        forward = module.forward

        def recorded(*args, **kwargs):
            index = len(calls)
            calls.append((module, depth[0]))
            depth[0] += 1
            try:
                output = forward(*args, **kwargs)
            finally:
                depth[0] -= 1
            array = np.asarray(output)
            shapes[index] = (tuple(array.shape[1:]), int(array[:1].nbytes))
            return output
        return recorded

    modes = {id(m): m.training for m in model.modules()}
    wrapped = list(dict.fromkeys(model.modules()))
    try:
        for module in wrapped:
            module.forward = wrap(module)
        model.eval()
        model(np.zeros((1, *input_shape), dtype=dtype))
    finally:
        for module in wrapped:
            module.__dict__.pop("forward", None)
        for module in model.modules():
            module.training = modes[id(module)]
    rows = tuple(
        LayerRow(name=names.get(id(module), "?"), depth=depth_, description=_describe(module),
                 output_shape=shapes[i][0], own_parameters=_own_parameters(module),
                 parameters=module.num_parameters(), leaf=not module._modules, output_bytes=shapes[i][1])
        for i, (module, depth_) in enumerate(calls)
    )
    total = model.num_parameters()
    parameter_bytes = sum(p.data.nbytes for p in model.parameters())
    return Summary(type(model).__name__, input_shape, batch_size, rows, total, parameter_bytes, dtype.itemsize)


def _own_parameters(module: Module) -> int:
    return sum(p.data.size for p in module._parameters.values())


def _describe(module: Module) -> str:
    """A leaf as its repr (``Conv2d(1, 32, kernel_size=(3, 3), ...)``), a container by its class."""
    return type(module).__name__ if module._modules else repr(module)


def format_summary(summary: Summary) -> str:
    """The summary as an aligned text table (thousands separators, MiB for memory)."""
    header = ("layer", "output shape", "parameters")
    lines = [(("  " * max(row.depth - 1, 0)) + (f"{row.name}: " if row.name else "") + row.description,
              "×".join(map(str, row.output_shape)) or "scalar",
              f"{row.parameters:,}" if row.leaf or row.own_parameters else f"({row.parameters:,})")
             for row in summary.rows if row.depth > 0 or len(summary.rows) == 1]
    widths = [max(len(cells[i]) for cells in [header, *lines]) for i in range(3)]
    rule = "-" * (widths[0] + widths[1] + widths[2] + 4)
    text = [f"{header[0]:<{widths[0]}}  {header[1]:<{widths[1]}}  {header[2]:>{widths[2]}}", rule]
    text += [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:>{widths[2]}}" for a, b, c in lines]
    text.append(rule)
    batch = summary.batch_size
    text.append(f"{summary.model_name} on {'×'.join(map(str, summary.input_shape))} input: "
                f"{summary.total_parameters:,} parameters ({summary.parameter_bytes / MIB:,.2f} MiB)")
    text.append(f"memory for a batch of {batch:,}: layer outputs {summary.activation_bytes / MIB:,.2f} MiB, "
                f"input {summary.input_bytes / MIB:,.2f} MiB")
    text.append(f"training adds the gradients ({summary.parameter_bytes / MIB:,.2f} MiB) and the optimizer's state")
    return "\n".join(text)
