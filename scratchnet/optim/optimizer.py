"""Optimizer: the base of every update rule, with ``torch.optim.Optimizer``'s names and semantics.

An optimizer holds ``param_groups``, a list of dicts each with a ``"params"`` list and that
group's hyperparameters (``"lr"``, ...), so one model can train its parts with different
settings and a learning-rate scheduler can rewrite ``group["lr"]`` between steps. Per-parameter
state (momentum buffers, moment estimates, step counts) lives in ``state[param]``.

``step()`` updates ``p.data`` in place for every parameter whose ``grad`` is not None and never
modifies the gradients; ``zero_grad()`` sets them to None for the next backward pass.

Hyperparameters are checked whenever a group is added or loaded. One deliberate difference
from torch: ``lr`` must be positive (torch accepts 0, which silently trains nothing).
"""
from __future__ import annotations

import copy
import math
import numbers
from typing import Any, Callable, Iterable

import numpy as np

from ..nn.module import Parameter

# Per-parameter state entries that are counters rather than arrays shaped like the parameter.
SCALAR_STATE = ("step",)


class Optimizer:
    """Base class: subclasses pass their ``defaults`` and implement the three hooks below.

    ``_check_group(group)``                 raise ValueError for impossible hyperparameters
    ``_init_state(param, group)``           the fresh state dict of one parameter
    ``_update(param, grad, state, group)``  update the array ``param`` in place

    Every subclass has a ``"maximize"`` hyperparameter; the base negates the gradient for it.
    """

    def __init__(self, params: Iterable[Parameter] | Iterable[dict], defaults: dict[str, Any]):
        if isinstance(params, (Parameter, np.ndarray)):
            raise TypeError(
                f"{type(self).__name__} takes an iterable of Parameters such as model.parameters(), "
                f"or a list of param-group dicts, got a single {type(params).__name__}"
            )
        self.defaults = dict(defaults)
        self.state: dict[Parameter, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        self._work_arrays: dict[int, np.ndarray] = {}
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list; pass model.parameters()")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group ``{"params": [...], hyperparameter: value, ...}``; missing hyperparameters take the defaults."""
        if not isinstance(param_group, dict) or "params" not in param_group:
            raise TypeError(f"a param group must be a dict with a 'params' key, got {param_group!r}")
        group = dict(param_group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, Parameter) else list(params)
        for p in group["params"]:
            if not isinstance(p, Parameter):
                raise TypeError(f"{type(self).__name__} can only optimize Parameters, got {type(p).__name__}")
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        self._check_group(group)
        seen = {p for g in self.param_groups for p in g["params"]}
        if len(set(group["params"])) != len(group["params"]) or seen.intersection(group["params"]):
            raise ValueError("some parameters appear more than once; each parameter may be in only one group, once")
        self.param_groups.append(group)

    # -- the update ---------------------------------------------------------------
    def step(self, closure: Callable[[], Any] | None = None):
        """Update every parameter that has a gradient; return ``closure()`` if given (it recomputes the loss)."""
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            maximize = group["maximize"]
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                if grad.shape != p.data.shape:
                    raise ValueError(f"{p!r} has a gradient of shape {grad.shape}; it must match the parameter's shape")
                state = self.state.get(p)
                if state is None:
                    state = self.state[p] = self._init_state(p.data, group)
                self._update(p.data, -grad if maximize else grad, state, group)
        return loss

    def _work(self, param: np.ndarray) -> np.ndarray:
        """A work array shaped like ``param``, reused by every step (not state: never saved).

        Large models spend much of a step allocating temporaries; updates write into this instead.
        """
        work = self._work_arrays.get(id(param))
        if work is None or work.shape != param.shape or work.dtype != param.dtype:
            work = self._work_arrays[id(param)] = np.empty_like(param)
        return work

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Set every parameter's gradient to None (the default, as in torch), or fill it with zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.fill(0)

    def _check_group(self, group: dict[str, Any]) -> None:
        raise NotImplementedError

    def _init_state(self, param: np.ndarray, group: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        raise NotImplementedError

    # -- state --------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {name: value}}, "param_groups": [{..., "params": [indices]}]}`` as in torch.

        Parameters are numbered in group order. Values are copies and only plain Python
        scalars, tuples, lists, dicts and NumPy arrays, so the result can be saved as JSON + npz.
        """
        index: dict[Parameter, int] = {}
        groups = []
        for group in self.param_groups:
            packed = copy.deepcopy({k: v for k, v in group.items() if k != "params"})
            packed["params"] = [index.setdefault(p, len(index)) for p in group["params"]]
            groups.append(packed)
        state = {
            i: {name: value.copy() if isinstance(value, np.ndarray) else value for name, value in self.state[p].items()}
            for p, i in index.items()
            if p in self.state
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyperparameters and state saved by ``state_dict()`` from an optimizer of the same kind.

        Accepts what a JSON round trip makes of it (string keys, lists for tuples, 0-d arrays
        for counters). Nothing changes unless the whole dict is valid.
        """
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"the state_dict has {len(saved_groups)} param groups but this {type(self).__name__} has "
                f"{len(self.param_groups)}; build the optimizer with the same groups it was saved from"
            )
        params_by_index: dict[int, Parameter] = {}
        groups = []
        for i, (saved, own) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(own["params"]):
                raise ValueError(
                    f"param group {i} of the state_dict has {len(saved['params'])} parameters but this "
                    f"optimizer's has {len(own['params'])}; was it saved for a different model?"
                )
            missing = [name for name in self.defaults if name not in saved]
            if missing:
                raise ValueError(
                    f"param group {i} of the state_dict lacks {missing}; was it saved by a different "
                    f"optimizer than {type(self).__name__}?"
                )
            params_by_index.update(zip((int(j) for j in saved["params"]), own["params"]))
            group = copy.deepcopy({k: v for k, v in saved.items() if k != "params"})
            for name, default in self.defaults.items():
                if isinstance(default, tuple):
                    group[name] = tuple(group[name])
            group["params"] = own["params"]
            self._check_group(group)
            groups.append(group)
        state = {}
        for key, saved_state in state_dict["state"].items():
            p = params_by_index.get(int(key))
            if p is None:
                raise ValueError(f"the state_dict has state for parameter {key}, which is in none of its param groups")
            state[p] = {name: _restore(value, p, name, key) for name, value in saved_state.items()}
        self.param_groups = groups
        self.state = state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params")
        return "\n".join(lines) + "\n)"


def _restore(value, param: Parameter, name: str, index) -> Any:
    """A private copy of one saved state entry: an int counter, or an array shaped and typed like ``param``."""
    if name in SCALAR_STATE:
        return int(value)
    array = np.asarray(value)
    if array.shape != param.data.shape:
        raise ValueError(
            f"state '{name}' of parameter {index} has shape {array.shape} but the parameter has shape "
            f"{param.data.shape}; was the state_dict saved for a different model?"
        )
    return np.array(array, dtype=param.data.dtype, copy=True)


def check_hyperparameter(
    owner: str, name: str, value, low: float, high: float = math.inf, *, low_open: bool = False, high_open: bool = True
) -> None:
    """Raise ValueError unless ``value`` is a real number in the interval from ``low`` to ``high``.

    The message names ``owner`` (e.g. "Adam"), the argument, the allowed interval and the value.
    """
    interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    ok = (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and (low < value if low_open else low <= value)
        and (value < high if high_open else value <= high)
    )
    if not ok:
        raise ValueError(f"{owner}: {name} must be a number in {interval}, got {value!r}")


def lerp_(start: np.ndarray, end: np.ndarray, weight: float, work: np.ndarray | None = None) -> None:
    """``start += weight * (end - start)`` in place, rounded the way ``torch.lerp_`` rounds it.

    ``work``, an array shaped like ``start``, avoids allocating a temporary.
    """
    diff = np.subtract(end, start, out=work)
    if abs(weight) < 0.5:
        diff *= weight
        start += diff
    else:
        diff *= 1 - weight
        np.subtract(end, diff, out=start)


def add_squared_(accumulator: np.ndarray, grad: np.ndarray, value: float, work: np.ndarray | None = None) -> None:
    """``accumulator += value * grad * grad`` in place (``torch.addcmul_(grad, grad, value=value)``)."""
    square = np.multiply(grad, value, out=work)
    square *= grad
    accumulator += square
