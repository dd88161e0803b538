"""``OnnxGraph``: a trainable module that runs a graph of modules, as an imported ONNX model.

Each step is a module applied to named values (the graph's inputs or earlier steps'
outputs) producing one named value. ``forward`` runs the steps in order; ``backward``
runs them in reverse, handing each step the gradient of its output and, where a value
feeds several steps (the input of a residual block feeds both the block and the skip),
summing the gradients that come back for it:

    dL/dv = Σ_{steps s reading v} (dL/d input_v of s)

Steps whose output does not reach the graph's output get no gradient and are skipped.
The steps' modules are the graph's children under the names the importer gave them (the
weights' names in the file, e.g. "fc1" for "fc1.weight"), so ``state_dict`` keys follow
the file's initializer names.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..nn import Module


@dataclass(frozen=True)
class Step:
    """``output = module(*inputs)``; ``node`` names the ONNX node it came from (for messages)."""

    module: Module
    inputs: tuple[str, ...]
    output: str
    node: str


class OnnxGraph(Module):
    """Modules wired by value names: ``forward(*inputs)`` -> the output value; see the module docstring."""

    can_skip_input_grad = True

    def __init__(self, inputs: list[str], output: str, steps: list[tuple[str, Step]]):
        super().__init__()
        self.input_names, self.output_name = tuple(inputs), output
        self.steps = [step for _, step in steps]
        for name, step in steps:
            if name in self._modules:
                raise ValueError(f"two steps are both named {name!r}")
            self._modules[name] = step.module  # not attributes: a node named "eval" must not hide a method
        known = set(self.input_names)
        for step in self.steps:
            missing = [name for name in step.inputs if name not in known]
            if missing:
                raise ValueError(f"node {step.node!r} reads {', '.join(missing)} before any step computes it; "
                                 "the graph's nodes must be in topological order")
            known.add(step.output)
        if output not in known:
            raise ValueError(f"no step computes the graph's output {output!r}")

    def forward(self, *inputs: np.ndarray) -> np.ndarray:
        if len(inputs) != len(self.input_names):
            raise ValueError(f"this graph takes {len(self.input_names)} input(s) ({', '.join(self.input_names)}), "
                             f"got {len(inputs)}")
        values = dict(zip(self.input_names, inputs))
        for step in self.steps:
            values[step.output] = step.module(*(values[name] for name in step.inputs))
        return values[self.output_name]

    def backward(self, grad_output: np.ndarray, input_grad: bool = True):
        """dL/d(each input) from dL/d(output); one array for a one-input graph, else a tuple.
        An input that does not reach the output gets None; ``input_grad=False`` returns None."""
        grads = {self.output_name: grad_output}
        for step in reversed(self.steps):
            grad = grads.pop(step.output, None)
            if grad is None:
                continue
            input_grads = step.module.backward(grad)
            if len(step.inputs) == 1:
                input_grads = (input_grads,)
            for name, input_grad_ in zip(step.inputs, input_grads):
                if input_grad_ is not None:
                    grads[name] = grads[name] + input_grad_ if name in grads else input_grad_
        if not input_grad:
            return None
        result = tuple(grads.get(name) for name in self.input_names)
        return result[0] if len(result) == 1 else result

    def extra_repr(self) -> str:
        return f"inputs={list(self.input_names)}, output={self.output_name!r}, {len(self.steps)} steps"
