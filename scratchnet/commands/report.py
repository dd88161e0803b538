"""``scratchnet report RUN``: rebuild a run's figures and report.html from its files."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..data import DatasetNotFoundError
from .usage import UsageError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "report",
        help="rebuild a training run's figures and report.html",
        description="Redraw curves.png, confusion.png, mistakes.png and weights.png and rewrite the "
        "self-contained report.html of a training run from the files in its folder, then print "
        "the path of report.html.",
    )
    parser.add_argument("run", metavar="RUN", type=Path, help="a training run folder (scratchnet train --out)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..report import write_report  # imported here: matplotlib is slow to import for --help

    try:
        page = write_report(args.run)
    except (ValueError, DatasetNotFoundError) as err:
        raise UsageError(str(err)) from None
    print(page)
    return 0
