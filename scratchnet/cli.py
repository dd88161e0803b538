"""The ``scratchnet`` command line. Each subcommand lives in ``scratchnet/commands/<name>.py``
and exposes ``register(subparsers)``, which adds its parser and sets ``func(args) -> int``.

Exit status, the same for every command:
  0  done;
  1  the work failed: a file that cannot be read, a dataset that is nowhere (or its download failed),
     training that diverged, a full disk;
  2  a usage error: a bad flag, value, name or setting, reported before any work is done
     (with "did you mean" when a known name is close);
  130  interrupted with Ctrl-C (training keeps a checkpoint: continue with --resume).
Output into a closed pipe (``scratchnet models | head -1``) ends quietly.
"""
from __future__ import annotations

import argparse
import importlib
import re
import sys

from . import __version__
from .commands.usage import UsageError
from .suggest import close_names, did_you_mean
from .terminal import paint, silence_stdout
from .train.flags import FLAG_SYNONYMS
from .train.runfiles import DiskFullError

# Listed in the order ``scratchnet --help`` shows them.
COMMANDS = ["train", "recipes", "evaluate", "predict", "export", "report", "models", "datasets", "explore",
            "reproduce", "search", "serve"]


class ArgumentParser(argparse.ArgumentParser):
    """argparse, plus "did you mean" for a flag it does not know (``--learning-rate`` -> ``--lr``)."""

    def parse_known_args(self, args=None, namespace=None):
        self._words = list(sys.argv[1:] if args is None else args)  # to find the chosen subcommand
        return super().parse_known_args(args, namespace)

    def error(self, message: str):
        if message.startswith("unrecognized arguments: "):
            message += self._suggestions(message.split(": ", 1)[1].split())
        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if choice and "did you mean" not in message:
            message += did_you_mean(choice.group(1), re.findall(r"'([^']*)'", choice.group(2)))
        chosen = self._chosen()
        if message.startswith("unrecognized arguments: ") and chosen is not None:
            chosen.print_usage(sys.stderr)  # the subcommand's usage, not the top-level one
            self.exit(2, f"{chosen.prog}: error: {message}\n")
        super().error(message)

    def _suggestions(self, words: list[str]) -> str:
        known = [option for action in self._all_actions() for option in action.option_strings]
        hints = []
        for word in (w.split("=", 1)[0] for w in words if w.startswith("--")):
            synonym = FLAG_SYNONYMS.get(word.lower())
            close = [synonym] if synonym in known else close_names(word, known, n=2)
            if close:
                hints.append(f"{word}: did you mean {' or '.join(close)}?")
        return "; " + "; ".join(hints) if hints else ""

    def _all_actions(self):
        """This parser's actions and those of the subcommand the user chose (argparse reports a
        subcommand's unknown flags from the top-level parser)."""
        chosen = self._chosen()
        return list(self._actions) + (chosen._actions if chosen is not None else [])

    def _chosen(self) -> argparse.ArgumentParser | None:
        """The parser of the subcommand the user chose, if any."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                chosen = [parser for name, parser in action.choices.items() if name in getattr(self, "_words", [])]
                return chosen[0] if chosen else None
        return None


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="scratchnet", description="Neural networks from scratch on NumPy: train, evaluate, report, predict.",
        epilog="exit status: 0 done, 1 the work failed, 2 a usage error (nothing was done), 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"scratchnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f".commands.{name}", __package__).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        try:
            status = int(args.func(args) or 0)
        except UsageError as err:
            print(f"scratchnet {args.command}: {paint('error:', 'red', sys.stderr)} {err}", file=sys.stderr)
            return 2
        sys.stdout.flush()
        return status
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except DiskFullError as err:
        print(f"scratchnet {args.command}: error: {err.strerror}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (`| head`): stop writing, and keep Python from complaining at exit.
        silence_stdout()
        return 0


if __name__ == "__main__":
    sys.exit(main())
