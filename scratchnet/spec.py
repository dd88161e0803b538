"""Model specs: a JSON-able description of a network, built into modules of ``scratchnet.nn``.

This module sits between the engine and the workflow (engine <- data <- specs and the zoo <-
train): the zoo, the trainer and model files all build networks here, and it imports only
``scratchnet.nn``, so ``import scratchnet.zoo`` loads no training, download or progress-bar
code. Layer types are read from the engine: every Module class ``scratchnet.nn`` exports
(except the losses) can be named in a spec.

A spec is a tree of nodes. A layer is ``{"type": <torch.nn class name>, <constructor
arguments>}``; an argument that is itself a node is built into a module (``Residual``'s
``block``). Containers hold named children, so the built model's ``state_dict`` keys are
those of the same ``torch.nn`` model:

    {"type": "Sequential", "layers": [node, ...]}          children "0", "1", ...
    {"type": "Sequential", "children": {"conv1": node, ...}}  named children (OrderedDict)
    {"type": "ModuleList", "layers": [...]}, {"type": "ModuleDict", "children": {...}}

The flat form of earlier versions, ``{"layers": [...]}`` without a type, is a Sequential::

    {"layers": [{"type": "Conv2d", "in_channels": 1, "out_channels": 20, "kernel_size": 4},
                {"type": "ReLU"},
                {"type": "Flatten"},
                {"type": "Linear", "in_features": 12500, "out_features": 10,
                 "init": {"weight": {"fn": "kaiming_normal_", "nonlinearity": "linear"},
                          "bias": {"fn": "zeros_"}}}]}

Built-in branch blocks are layers like any other: ``{"type": "BasicBlock", "inplanes": 16,
"planes": 32, "stride": 2, "shortcut": "A"}``. A user-written Module class is recorded as
``{"class": "package.module:ClassName", "args": {...}}``: its importable path and its
constructor arguments, never its code. Building such a node needs the class itself
(``build_model(spec, classes=[ClassName])``); nothing is imported by name.

The optional ``init`` of a layer re-initialises its parameters (a block's by dotted name,
``"conv1.weight"``) with functions of ``scratchnet.nn.init`` (keyword arguments beside
``fn``); without it a layer keeps
PyTorch's default initialisation. Model files are the same spec in JSON or TOML
(``[[layers]]`` tables). ``spec_of(model)`` writes the spec of a model built in Python.
"""
from __future__ import annotations

import inspect
import json
from collections import OrderedDict
from pathlib import Path
from typing import Iterable

import numpy as np

from . import nn
from .nn.loss import _Loss

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

CONTAINERS = ("Sequential", "ModuleList", "ModuleDict")
# Constructor arguments that are not part of an architecture: they never appear in a spec.
_RUNTIME_ARGS = ("self", "dtype", "generator")
_EXPECTED = ('expected {"layers": [{"type": "Linear", ...}, ...]} with at least one layer, or a tree '
             '{"type": "Sequential", "children": {"name": {"type": ...}, ...}}')


def layer_types() -> tuple[str, ...]:
    """Every Module class that ``scratchnet.nn`` exports, except Module itself and the losses.

    Read from the engine rather than listed here, so a layer added to ``scratchnet.nn``
    is usable in specs without editing this file.
    """
    return tuple(name for name, obj in vars(nn).items()
                 if isinstance(obj, type) and issubclass(obj, nn.Module) and obj is not nn.Module
                 and not issubclass(obj, _Loss))


LAYER_TYPES = layer_types()  # the engine's layer types when this module was imported


def load_spec(path: str | Path) -> dict:
    """Read a model spec from a ``.json`` or ``.toml`` file and check its structure."""
    path = Path(path)
    if path.suffix not in (".json", ".toml"):
        raise ValueError(f"model file {path} must end in .json or .toml (a spec of layers), got {path.suffix!r}")
    if not path.is_file():
        raise ValueError(f"model file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"model file {path} is not UTF-8 text ({err.reason} at byte {err.start})") from None
    except MemoryError:
        raise ValueError(f"model file {path} is too large for the memory free (a spec is a few KB)") from None
    try:
        spec = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, RecursionError) as err:
        raise ValueError(f"model file {path} is not valid {path.suffix[1:].upper()}: "
                         f"{str(err)[:200] or 'nested too deep'}") from None
    try:
        validate_spec(spec, source=str(path))
    except RecursionError:
        raise ValueError(f"model file {path}: its layers are nested too deep") from None
    return spec


# -- the tree -------------------------------------------------------------------------
def root_node(spec) -> dict:
    """The spec's top node; the flat form ``{"layers": [...]}`` is a Sequential."""
    if isinstance(spec, dict) and "type" not in spec and "class" not in spec:
        return {"type": "Sequential", "layers": spec.get("layers")}
    return spec


def is_flat(spec: dict) -> bool:
    """True for the flat form of earlier versions: a list of layers, none of them a container or block."""
    return ("type" not in spec and "class" not in spec and isinstance(spec.get("layers"), list)
            and not any(_child_nodes(layer) for layer in spec["layers"]))


def _is_node(value) -> bool:
    return isinstance(value, dict) and ("type" in value or "class" in value)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else str(name)


def children(node: dict, where: str = "a container") -> list[tuple[str, dict]]:
    """A container node's ``(name, child)`` pairs: ``layers`` are named "0", "1", ..."""
    layers, named = node.get("layers"), node.get("children")
    if node["type"] != "ModuleDict" and isinstance(layers, list) and named is None:
        return [(str(i), child) for i, child in enumerate(layers)]
    if node["type"] != "ModuleList" and isinstance(named, dict) and layers is None:
        return list(named.items())
    forms = {"Sequential": '"layers": [...] or "children": {...}', "ModuleList": '"layers": [...]',
             "ModuleDict": '"children": {...}'}[node["type"]]
    raise ValueError(f"{where} ({node['type']}) needs {forms}, got {sorted(k for k in node if k != 'type')}")


def _child_nodes(node, where: str = "a container") -> list[tuple[str, dict]]:
    """The nodes inside ``node``: a container's children, or a layer's arguments that are nodes."""
    if not isinstance(node, dict):
        return []
    if node.get("type") in CONTAINERS:
        return children(node, where)
    found = []
    for key, value in node.items():
        if _is_node(value):
            found.append((key, value))
        elif isinstance(value, list):
            found += [(f"{key}.{i}", item) for i, item in enumerate(value) if _is_node(item)]
    return found


def validate_spec(spec, source: str = "model spec") -> None:
    """Raise ValueError unless ``spec`` is a tree of nodes with allowed types (see the module docstring)."""
    root = root_node(spec)
    if not isinstance(root, dict) or (root.get("type") == "Sequential" and "type" not in spec
                                      and (not isinstance(root.get("layers"), list) or not root["layers"])):
        raise ValueError(f"{source}: {_EXPECTED}")
    _validate_node(root, "", source)


def _validate_node(node, path: str, source: str) -> None:
    where = f"layer {path}" if path else "the model"
    if not _is_node(node):
        raise ValueError(f'{source}: {where} must be a table/object with a "type", got {node!r}')
    if "class" in node:
        if not isinstance(node["class"], str) or ":" not in node["class"] or not isinstance(node.get("args", {}), dict):
            raise ValueError(f'{source}: {where} must be {{"class": "package.module:ClassName", "args": {{...}}}}, '
                             f"got {node!r}")
        return
    if node["type"] not in layer_types():
        raise ValueError(f"{source}: {where} has unknown type {node['type']!r}; "
                         f"allowed types: {', '.join(layer_types())}")
    try:
        nodes = _child_nodes(node, where)
    except ValueError as err:
        raise ValueError(f"{source}: {err}") from None
    for name, child in nodes:
        _validate_node(child, _join(path, name), source)


# -- building -------------------------------------------------------------------------
def build_model(spec: dict, input_shape: tuple[int, ...] | None = None, num_classes: int | None = None,
                classes: Iterable[type] = ()) -> nn.Module:
    """Build ``spec`` into modules (float32, in training mode).

    With ``input_shape`` (C, H, W) the model is run once on zeros to check that the layers
    fit the input and, with ``num_classes``, that it outputs (N, num_classes). ``classes``
    are the user-written Module classes the spec names (see the module docstring).
    """
    validate_spec(spec)
    model = build_node(root_node(spec), "", tuple(classes))
    if input_shape is not None:
        check_fits(model, input_shape, num_classes)
    return model


def build_node(node: dict, path: str = "", classes: tuple = ()) -> nn.Module:
    """One node of a spec and everything below it; ``path`` is its state_dict prefix, for messages."""
    if "class" in node:
        return _build_user_module(node, path, classes)
    if node["type"] in CONTAINERS:
        built = [(name, build_node(child, _join(path, name), classes)) for name, child in children(node)]
        if node["type"] == "ModuleList":
            return nn.ModuleList(module for _, module in built)
        if node["type"] == "ModuleDict":
            return nn.ModuleDict(built)
        return nn.Sequential(OrderedDict(built))
    return _build_layer(node, path, classes)


def _build_layer(node: dict, path: str, classes: tuple) -> nn.Module:
    cls = getattr(nn, node["type"])
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p not in _RUNTIME_ARGS]
    # "init" re-initialises parameters (a dict), except a number for a class that takes init itself (PReLU)
    init_is_argument = "init" in accepted and not isinstance(node.get("init"), dict)
    args = {key: _argument(value, _join(path, key), classes) for key, value in node.items()
            if key != "type" and (key != "init" or init_is_argument)}
    unknown = sorted(set(args) - set(accepted))
    if unknown:
        raise ValueError(f"layer {path} ({cls.__name__}) does not take {', '.join(unknown)}; "
                         f"it takes {', '.join(accepted) or 'no arguments'}")
    try:
        module = cls(**args)
    except (TypeError, ValueError) as err:
        raise ValueError(f"layer {path} ({cls.__name__}): {err}") from None
    init = {} if init_is_argument else node.get("init", {})
    if not isinstance(init, dict):
        raise ValueError(f'layer {path}: init must be {{"weight": {{"fn": "kaiming_normal_", ...}}, ...}}, got {init!r}')
    for name, entry in init.items():
        _initialise(path, module, name, entry)
    return module


def _argument(value, path: str, classes: tuple):
    """A constructor argument from its spec value: nodes become modules, lists tuples."""
    if _is_node(value):
        return build_node(value, path, classes)
    if isinstance(value, list):
        return tuple(_argument(v, path, classes) for v in value)
    return value


def _class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _build_user_module(node: dict, path: str, classes: tuple) -> nn.Module:
    """A user-written Module from the class the caller passed; a spec never imports code by name."""
    wanted = node["class"]
    matches = [c for c in classes if _class_path(c) == wanted] or \
              [c for c in classes if c.__qualname__ == wanted.split(":", 1)[1]]
    if not matches:
        name = wanted.split(":", 1)[1]
        raise ValueError(f"{'layer ' + path if path else 'the model'} is the user-written module {wanted}: a model "
                         f"file keeps its weights and class path, never its code. Import the class and pass it: "
                         f"load_model(file, classes=[{name}]) or build_model(spec, classes=[{name}])")
    try:
        module = matches[0](**node.get("args", {}))
    except (TypeError, ValueError) as err:
        raise ValueError(f"{'layer ' + path if path else 'the model'} ({wanted}): {err}") from None
    if not isinstance(module, nn.Module):
        raise ValueError(f"{wanted} built a {type(module).__name__}, not a scratchnet nn.Module")
    return module


def _initialise(path: str, module: nn.Module, name: str, init: dict) -> None:
    """Apply ``nn.init.<fn>(module.<name>, **kwargs)`` for one ``init`` entry of a layer."""
    params = dict(module.named_parameters())  # a block's parameters by dotted name: "conv1.weight"
    param = params.get(name)
    if param is None:
        raise ValueError(f"layer {path} ({type(module).__name__}) has no parameter {name!r} to initialise; "
                         f"it has {', '.join(params) or 'none'}")
    allowed = sorted(n for n in vars(nn.init) if n.endswith("_") and not n.startswith("_"))
    fn = init.get("fn") if isinstance(init, dict) else None
    if fn not in allowed:
        raise ValueError(f'layer {path}: init of {name!r} must be {{"fn": <name>, ...}} with a name from '
                         f"{', '.join(allowed)}; got {init!r}")
    kwargs = {key: value for key, value in init.items() if key != "fn"}
    try:
        getattr(nn.init, fn)(param, **kwargs)
    except (TypeError, ValueError) as err:
        raise ValueError(f"layer {path}: init {fn} of {name!r}: {err}") from None


# -- writing a spec from a built model -------------------------------------------------
def spec_of(model: nn.Module) -> dict:
    """The spec of ``model``, a network built in Python: containers from their children,
    layers and blocks from the arguments they were constructed with, user-written classes
    as ``{"class": ..., "args": ...}``. The spec is checked by building it again: a model
    edited after construction in a way its arguments do not show raises a ValueError."""
    spec = _node_of(model, "")
    expected = {key: value.shape for key, value in model.state_dict().items()}
    try:
        rebuilt = build_node(spec, "", tuple({type(m) for m in model.modules()}))
        got = {key: value.shape for key, value in rebuilt.state_dict().items()}
    except ValueError as err:
        got = str(err)
    if got != expected:
        raise ValueError(f"{type(model).__name__} cannot be described by a spec: built again from its constructor "
                         f"arguments it would differ ({got if isinstance(got, str) else _differences(expected, got)})"
                         "; was a submodule replaced after construction? Put it in the constructor instead")
    return spec


def _differences(expected: dict, got: dict) -> str:
    changed = [k for k in expected if k in got and got[k] != expected[k]]
    return (f"missing {sorted(set(expected) - set(got))}, unexpected {sorted(set(got) - set(expected))}, "
            f"other shapes {changed}")


def _node_of(module: nn.Module, path: str) -> dict:
    cls = type(module)
    if getattr(nn, cls.__name__, None) is not cls:
        return {"class": _class_path(cls), "args": _arguments_of(module, path)}
    if cls.__name__ not in CONTAINERS:
        return {"type": cls.__name__, **_arguments_of(module, path)}
    named = {name: _node_of(child, _join(path, name)) for name, child in module._modules.items()}
    if cls is not nn.ModuleDict and list(named) == [str(i) for i in range(len(named))]:
        return {"type": cls.__name__, "layers": list(named.values())}
    return {"type": cls.__name__, "children": named}


def _arguments_of(module: nn.Module, path: str) -> dict:
    """The constructor arguments ``module`` was built with, by name, as JSON values."""
    args, kwargs = module.init_args
    signature = inspect.signature(type(module).__init__)
    bound = signature.bind(None, *args, **kwargs).arguments
    out = {}
    for name, value in bound.items():
        kind = signature.parameters[name].kind
        if name in _RUNTIME_ARGS or (type(module) is nn.Identity and kind != inspect.Parameter.POSITIONAL_OR_KEYWORD):
            continue
        if value is None and signature.parameters[name].default is None:
            continue  # TOML has no null; leaving it out means the same
        if kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise ValueError(f"{path or 'the model'} ({type(module).__name__}) takes *{name}: a spec names every "
                             "constructor argument; give the class named parameters")
        out[name] = _json_value(value, _join(path, name))
    return out


def _json_value(value, path: str):
    if isinstance(value, nn.Module):
        return _node_of(value, path)
    if isinstance(value, (list, tuple)):
        return [_json_value(v, path) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _json_value(v, _join(path, k)) for k, v in value.items()}
    raise ValueError(f"constructor argument {path} is a {type(value).__name__}, which a model spec (JSON) cannot "
                     "hold; pass numbers, strings, lists or modules")


def output_layer_type(spec: dict) -> str:
    """The type of the layer that produces the model's output: the last child of the last Sequential."""
    node = root_node(spec)
    while node.get("type") == "Sequential" and children(node):
        node = children(node)[-1][1]
    return node.get("type") or node["class"]


def check_fits(model: nn.Module, input_shape: tuple[int, ...], num_classes: int | None = None) -> None:
    """Run ``model`` on two zero images of ``input_shape`` (eval mode: no randomness used)."""
    was_training = model.training
    model.eval()
    try:
        out = model(np.zeros((2, *input_shape), dtype=np.float32))
    except ValueError as err:
        raise ValueError(f"the layers do not fit input of shape {tuple(input_shape)}: {err}") from None
    finally:
        model.train(was_training)
    if num_classes is not None and out.shape != (2, num_classes):
        raise ValueError(f"the model outputs shape {out.shape[1:]} per image, but the data has {num_classes} "
                         f"classes; the last layer must output {num_classes} values")

