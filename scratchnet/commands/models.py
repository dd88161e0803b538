"""``scratchnet models``: the model zoo, with parameter counts on MNIST- and CIFAR-shaped input."""
from __future__ import annotations

import argparse
import json
import re

from .. import zoo
from ..suggest import close_names
from .usage import UsageError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "models", help="list the model zoo with parameter counts",
        description="The zoo: every architecture of the SEEDS reports by name, plus stronger CNNs. Parametric "
                    "names (cnnK-N-P, mlp2-H1-H2) take any values, e.g. cnn5-128-0.25. Pass a name to "
                    "`scratchnet train --model`, or a JSON/TOML file listing layers in the same form "
                    "(`scratchnet models --spec NAME` prints one).",
    )
    parser.add_argument("--spec", metavar="NAME", help="print the layer spec of NAME (for 1x28x28 input) as JSON")
    parser.add_argument("--summary", metavar="NAME|FILE",
                        help="print the model's layers: output shape and parameters of each, totals, memory "
                             "for a batch (a zoo name or a .json/.toml layer spec)")
    parser.add_argument("--input", type=_input_shape, default=zoo.MNIST_SHAPE, metavar="CxHxW",
                        help="input shape for --summary (default 1x28x28; CIFAR-10: 3x32x32)")
    parser.add_argument("--batch-size", type=int, default=128, metavar="N",
                        help="batch size of --summary's memory figures (default 128)")
    parser.set_defaults(func=run_models)


def _input_shape(text: str) -> tuple[int, int, int]:
    try:
        shape = tuple(int(part) for part in text.lower().split("x"))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"expected CxHxW such as 1x28x28 or 3x32x32, got {text!r}")
    return shape


def run_models(args: argparse.Namespace) -> int:
    if args.summary is not None:
        print(summary(args.summary, args.input, args.batch_size))
        return 0
    if args.spec is None:
        print(table())
        return 0
    try:
        print(json.dumps(zoo.spec(args.spec), indent=2))
    except ValueError as err:
        raise UsageError(model_error(args.spec, str(err))) from None
    return 0


def summary(name: str, input_shape: tuple[int, int, int], batch_size: int) -> str:
    """The per-layer summary of zoo model (or layer-spec file) ``name`` on ``input_shape``."""
    from ..spec import build_model, load_spec

    if batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {batch_size}")
    try:
        spec = load_spec(name) if name.endswith((".json", ".toml")) else zoo.spec(name, input_shape)
        model = build_model(spec, input_shape)
        return f"{name}\n{model.summary(input_shape, batch_size)}"
    except ValueError as err:
        raise UsageError(model_error(name, str(err))) from None


def table() -> str:
    """One row per architecture: its name, parameters on 1x28x28 and on 3x32x32 input, description."""
    rows = [("MODEL", "1x28x28", "3x32x32", "DESCRIPTION")]
    for arch in zoo.ARCHITECTURES:
        counts = [f"{zoo.num_parameters(arch.example, shape):,}" for shape in (zoo.MNIST_SHAPE, zoo.CIFAR_SHAPE)]
        name = arch.template if arch.template == arch.example else f"{arch.template} (e.g. {arch.example})"
        rows.append((name, *counts, arch.description))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}" for row in rows)


def model_error(name: str, error: str) -> str:
    """The error about model ``name``, leading with the zoo name the user most likely meant: the
    name in lower case (``CNN3-128-0.25``, as the reports spell it) or a dropout p without its
    decimal point (``cnn3-128-01`` -> ``cnn3-128-0.1``); else the error and any close zoo name."""
    if _is_zoo_name(name):  # the model is fine: the error is about something else
        return error
    lower = name.lower()
    tries = dict.fromkeys([lower, re.sub(r"-0(\d+)$", r"-0.\1", lower)])
    fixed = [candidate for candidate in tries if candidate != name and _is_zoo_name(candidate)]
    if fixed:
        return f"model {name!r}: did you mean {fixed[0]!r}? ({error})"
    close = close_names(name, zoo.names(), n=2)
    return error + ("; did you mean " + " or ".join(map(repr, close)) + "?" if close else "")


def _is_zoo_name(name: str) -> bool:
    try:
        zoo.spec(name)
    except ValueError:
        return False
    return True
