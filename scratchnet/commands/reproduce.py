"""``scratchnet reproduce``: run one experiment of the seed reports and compare with what it reported."""
from __future__ import annotations

import sys

from .usage import UsageError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "reproduce", help="re-run an experiment of the seed reports and compare with their numbers",
        description="Run one experiment of SEEDS.md as its author described and write a run directory per "
                    "training run plus comparison.md / comparison.json: the report's numbers next to ours.")
    parser.add_argument("id", nargs="?", help="the experiment (see --list)")
    parser.add_argument("--list", action="store_true", help="list the experiments, one line each")
    parser.add_argument("--quick", action="store_true",
                        help="a scaled-down, quiet run (600 training images, at most 2 epochs) that takes seconds")
    parser.add_argument("--out", help="experiment folder (default runs/reproduce/ID, or runs/reproduce/quick/ID)")
    parser.add_argument("--root", help="folder holding the datasets (MNIST falls back to ROOT/mnist-10k)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="worker processes for grid experiments (default: the number of cores)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from .. import experiments
    from ..data import DatasetNotFoundError

    if args.list:
        rows = [("EXPERIMENT", "SEED", "TIME ON 2 CORES", "WHAT IT RUNS")]
        rows += [(e.id, e.source, e.duration or "not timed", e.summary) for e in experiments.EXPERIMENTS.values()]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for row in rows:
            print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3])
        print("\n--quick runs any of them in seconds (600 images, at most 2 epochs).")
        return 0
    if args.id is None:
        raise UsageError("name an experiment to run (see `scratchnet reproduce --list`)")
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs must be >= 1, got {args.jobs}")
    try:
        experiments.get(args.id)
    except ValueError as err:
        raise UsageError(str(err)) from None
    try:
        text = experiments.run_experiment(args.id, args.out, quick=args.quick, root=args.root, jobs=args.jobs,
                                                 quiet=args.quick)
    except (DatasetNotFoundError, RuntimeError) as err:
        print(f"scratchnet reproduce {args.id}: {err}", file=sys.stderr)
        return 1
    print(text)
    return 0
