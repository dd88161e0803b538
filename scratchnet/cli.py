"""The ``scratchnet`` command line. Each subcommand lives in ``scratchnet/commands/<name>.py``
and exposes ``register(subparsers)``, which adds its parser and sets ``func(args) -> int``."""
from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .train.runfiles import DiskFullError

# Listed in the order ``scratchnet --help`` shows them.
COMMANDS = ["train", "recipes", "evaluate", "predict", "report", "models", "datasets", "explore", "reproduce", "search", "serve"]


class UsageError(Exception):
    """A bad argument: printed as one line, exit status 2, before any work is done."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scratchnet", description="Neural networks from scratch on NumPy: train, evaluate, report, predict."
    )
    parser.add_argument("--version", action="version", version=f"scratchnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f".commands.{name}", __package__).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UsageError as err:
        print(f"scratchnet {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except DiskFullError as err:
        print(f"scratchnet {args.command}: error: {err.strerror}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
