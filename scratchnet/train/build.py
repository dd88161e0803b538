"""Model specs: a JSON-able description of a network, built into an ``nn.Sequential``.

A spec lists layers by their ``torch.nn`` class name and constructor arguments, so a
built model's ``state_dict`` keys ("0.weight", "3.bias", ...) are those of the same
``torch.nn.Sequential``::

    {"layers": [{"type": "Conv2d", "in_channels": 1, "out_channels": 20, "kernel_size": 4},
                {"type": "ReLU"},
                {"type": "Flatten"},
                {"type": "Linear", "in_features": 12500, "out_features": 10,
                 "init": {"weight": {"fn": "kaiming_normal_", "nonlinearity": "linear"},
                          "bias": {"fn": "zeros_"}}}]}

The optional ``init`` of a layer re-initialises its parameters with functions of
``scratchnet.nn.init`` (keyword arguments beside ``fn``); without it a layer keeps
PyTorch's default initialisation. Model files are the same spec in JSON or TOML
(``[[layers]]`` tables).
"""
from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np

from .. import nn

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

LAYER_TYPES = ("Linear", "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten", "Dropout", "BatchNorm1d", "BatchNorm2d",
               "ReLU", "LeakyReLU", "ELU", "Sigmoid", "Tanh", "Softmax", "GELU")
# Constructor arguments that are not part of an architecture: they never appear in a spec.
_RUNTIME_ARGS = ("self", "dtype", "generator")


def load_spec(path: str | Path) -> dict:
    """Read a model spec from a ``.json`` or ``.toml`` file and check its structure."""
    path = Path(path)
    if path.suffix not in (".json", ".toml"):
        raise ValueError(f"model file {path} must end in .json or .toml (a spec of layers), got {path.suffix!r}")
    if not path.is_file():
        raise ValueError(f"model file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        spec = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, RecursionError) as err:
        raise ValueError(f"model file {path} is not valid {path.suffix[1:].upper()}: {str(err)[:200] or 'nested too deep'}") from None
    validate_spec(spec, source=str(path))
    return spec


def validate_spec(spec, source: str = "model spec") -> None:
    """Raise ValueError unless ``spec`` is ``{"layers": [{"type": <allowed type>, ...}, ...]}``."""
    if not isinstance(spec, dict) or not isinstance(spec.get("layers"), list) or not spec["layers"]:
        raise ValueError(f'{source}: expected {{"layers": [{{"type": "Linear", ...}}, ...]}} with at least one layer')
    for index, layer in enumerate(spec["layers"]):
        if not isinstance(layer, dict) or "type" not in layer:
            raise ValueError(f'{source}: layer {index} must be a table/object with a "type", got {layer!r}')
        if layer["type"] not in LAYER_TYPES:
            raise ValueError(f"{source}: layer {index} has unknown type {layer['type']!r}; "
                             f"allowed types: {', '.join(LAYER_TYPES)}")
        init = layer.get("init", {})
        if not isinstance(init, dict) or not all(isinstance(entry, dict) for entry in init.values()):
            raise ValueError(f'{source}: layer {index} has init {str(init)[:100]!r}; expected '
                             '{"weight": {"fn": "kaiming_normal_", ...}, ...}')


def build_model(spec: dict, input_shape: tuple[int, ...] | None = None,
                num_classes: int | None = None) -> nn.Sequential:
    """Build ``spec`` into an ``nn.Sequential`` (float32, in training mode).

    With ``input_shape`` (C, H, W) the model is run once on zeros to check that the layers
    fit the input and, with ``num_classes``, that it outputs (N, num_classes).
    """
    validate_spec(spec)
    model = nn.Sequential(*(_build_layer(index, layer) for index, layer in enumerate(spec["layers"])))
    if input_shape is not None:
        check_fits(model, input_shape, num_classes)
    return model


def _build_layer(index: int, layer: dict) -> nn.Module:
    cls = getattr(nn, layer["type"])
    args = {key: tuple(v) if isinstance(v, list) else v for key, v in layer.items() if key not in ("type", "init")}
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p not in _RUNTIME_ARGS]
    unknown = sorted(set(args) - set(accepted))
    if unknown:
        raise ValueError(f"layer {index} ({cls.__name__}) does not take {', '.join(unknown)}; "
                         f"it takes {', '.join(accepted) or 'no arguments'}")
    try:
        module = cls(**args)
    except (TypeError, ValueError) as err:
        raise ValueError(f"layer {index} ({cls.__name__}): {err}") from None
    for name, init in layer.get("init", {}).items():
        _initialise(index, module, name, init)
    return module


def _initialise(index: int, module: nn.Module, name: str, init: dict) -> None:
    """Apply ``nn.init.<fn>(module.<name>, **kwargs)`` for one ``init`` entry of a layer."""
    param = module._parameters.get(name)
    if param is None:
        raise ValueError(f"layer {index} ({type(module).__name__}) has no parameter {name!r} to initialise; "
                         f"it has {', '.join(module._parameters) or 'none'}")
    allowed = sorted(n for n in vars(nn.init) if n.endswith("_") and not n.startswith("_"))
    fn = init.get("fn") if isinstance(init, dict) else None
    if fn not in allowed:
        raise ValueError(f'layer {index}: init of {name!r} must be {{"fn": <name>, ...}} with a name from '
                         f"{', '.join(allowed)}; got {init!r}")
    kwargs = {key: value for key, value in init.items() if key != "fn"}
    try:
        getattr(nn.init, fn)(param, **kwargs)
    except (TypeError, ValueError) as err:
        raise ValueError(f"layer {index}: init {fn} of {name!r}: {err}") from None


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

