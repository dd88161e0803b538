"""``scratchnet search``: a grid search over training settings, in parallel worker processes.

    scratchnet search --set dataset=fashion-mnist --set epochs=5 \\
        --grid model=cnn3-128-0.1,cnn3-256-0.1 --grid lr=1e-3,3e-4 --jobs 2 --out runs/search
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .usage import UsageError
from ..experiments import grid as grid_search
from ..train import flags

SHOWN = ("val_loss", "val_accuracy", "best_epoch", "test_loss", "test_accuracy", "train_seconds")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "search", help="grid search over training settings, trials in parallel",
        description="Train every combination of the --grid values on top of a base configuration, in parallel "
                    "worker processes (one BLAS thread each). Finished trials (their metrics.json exists) are "
                    "skipped, so re-running a search resumes it. Writes OUT/results.csv sorted by --metric.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  scratchnet search --base runs/cnn3/config.json --grid lr=1e-3,3e-4 --out runs/lr\n"
               "  scratchnet search --set dataset=mnist --set epochs=3 --grid model=mlp2,mlp6 --jobs 2 --out runs/s")
    parser.add_argument("--base", metavar="CONFIG.json",
                        help="training settings to start from (e.g. a run's config.json); default: TrainConfig's")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="a base setting, e.g. --set epochs=5 or --set train-subset=1000 (a training setting "
                             "or its `scratchnet train` flag; repeatable; values parse as JSON, else text)")
    parser.add_argument("--grid", action="append", default=[], required=True, metavar="KEY=V1,V2",
                        help="a setting and the values to try, e.g. --grid lr=1e-3,3e-4 (repeatable)")
    parser.add_argument("--metric", default="val_loss",
                        help="column to sort by (default val_loss; accuracy-like metrics sort best-first descending)")
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: the number of cores)")
    parser.add_argument("--out", required=True, help="search directory: trials/<name>/ and results.csv")
    parser.set_defaults(func=run)


def base_settings(base: str | None, overrides: list[str]) -> dict:
    """The base configuration: the --base file's settings, then each --set on top."""
    settings = {}
    if base:
        path = Path(base)
        if not path.is_file():
            raise UsageError(f"--base {base}: no such file (give a JSON file of training settings)")
        try:
            settings = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise UsageError(f"--base {base} is not valid JSON: {err}") from None
        settings.pop("out", None)  # every trial gets its own directory
    for entry in overrides:
        key, sep, value = entry.partition("=")
        if not sep or not key:
            raise UsageError(f"--set {entry!r} must look like KEY=VALUE, e.g. --set epochs=5")
        settings[flags.field(key)] = grid_search.parse_value(value.strip())
    return settings


def check_trials(trials: list[grid_search.Trial]) -> None:
    """Every trial's settings must make a valid TrainConfig: fail before any worker starts."""
    from ..train import TrainConfig

    for trial in trials:
        try:
            TrainConfig.from_dict(trial.settings).validate()
        except (TypeError, ValueError) as err:
            raise UsageError(f"trial {trial.name}: {err}") from None


def run(args) -> int:
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs must be >= 1, got {args.jobs}")
    try:
        grid = {flags.field(key): values for key, values in grid_search.parse_grid(args.grid).items()}
    except ValueError as err:
        raise UsageError(str(err)) from None
    trials = grid_search.expand(base_settings(args.base, args.overrides), grid)
    check_trials(trials)
    try:
        rows = grid_search.run_grid(trials, args.out, jobs=args.jobs, metric=args.metric,
                                    trial=grid_search.train_trial)
    except ValueError as err:
        raise UsageError(str(err)) from None
    except grid_search.TrialFailed as err:
        print(f"scratchnet search: error: {err}", file=sys.stderr)
        return 1
    columns = ["trial", *grid, *(c for c in (args.metric, *SHOWN) if c not in grid)]
    print(grid_search.format_table(rows, list(dict.fromkeys(columns))))
    print(f"results: {Path(args.out) / grid_search.RESULTS} (sorted by {args.metric})")
    return 0
