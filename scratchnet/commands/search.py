"""``scratchnet search``: a grid search over training settings, in parallel worker processes or on Ray.

    scratchnet search --set dataset=fashion-mnist --set epochs=5 \\
        --grid model=cnn3-128-0.1,cnn3-256-0.1 --grid lr=1e-3,3e-4 --jobs 2 --out runs/search
    scratchnet search ... --backend ray --address auto --scheduler asha --out /shared/runs/search
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..experiments import grid as grid_search
from ..train import flags
from .usage import UsageError

SHOWN = ("val_loss", "val_accuracy", "best_epoch", "test_loss", "test_accuracy", "train_seconds")


class ExamplesFormatter(argparse.HelpFormatter):
    """argparse's formatting (the description wrapped to the terminal), with the epilog's
    examples kept one command a line."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("examples:"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "search", help="grid search over training settings, trials in parallel",
        description="Train every combination of the --grid values on top of a base configuration. The local "
                    "backend (default) runs each trial in a process of its own, --jobs at a time, one BLAS thread "
                    "each; a trial that fails there (an error, or its process killed) stops the search: no further "
                    "trial starts, the running ones finish. --backend ray runs each trial as a Ray Tune trial, on "
                    "this machine or a cluster, with optional early stopping (--scheduler asha) and sampling "
                    "(--search optuna); a failing trial there is reported in the table while the others go on. "
                    "Finished trials (their metrics.json exists) are skipped, so re-running a search resumes it. "
                    "Writes OUT/results.csv sorted by --metric.",
        formatter_class=ExamplesFormatter,
        epilog="examples:\n  scratchnet search --base runs/cnn3/config.json --grid lr=1e-3,3e-4 --out runs/lr\n"
               "  scratchnet search --set dataset=mnist --set epochs=3 --grid model=mlp2,mlp6 --jobs 2 --out runs/s\n"
               "  scratchnet search --set epochs=10 --grid lr=loguniform:1e-4:1e-2 --backend ray --search optuna "
               "--trials 20 --scheduler asha --out runs/lr")
    parser.add_argument("--base", metavar="CONFIG.json",
                        help="training settings to start from (e.g. a run's config.json); default: TrainConfig's")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="a base setting, e.g. --set epochs=5 or --set train-subset=1000 (a training setting "
                             "or its `scratchnet train` flag; repeatable; values parse as JSON, else text; "
                             "class weights as NAME=WEIGHT, several separated by ';': --set 'class-weight=Sandal=2;Bag=3')")
    parser.add_argument("--grid", action="append", default=[], required=True, metavar="KEY=V1,V2",
                        help="a setting and the values to try, e.g. --grid lr=1e-3,3e-4 (repeatable); with "
                             "--search optuna also a range, e.g. --grid lr=loguniform:1e-4:1e-2 (or uniform, randint); "
                             "class weights: --grid 'class-weight=Sandal=2,Sandal=2;Bag=3' tries two weightings")
    parser.add_argument("--metric", default="val_loss",
                        help="column to sort by (default val_loss; accuracy-like metrics sort best-first descending)")
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: the number of cores)")
    parser.add_argument("--out", required=True, help="search directory: trials/<name>/ and results.csv (with "
                        "--backend ray on several machines: a folder every node can reach)")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted search (re-running it does too; with Ray this also restores "
                             "Tune's state: the Optuna study, ASHA's rungs)")
    ray = parser.add_argument_group("Ray backend (pip install 'scratchnet[ray]')")
    ray.add_argument("--backend", choices=("local", "ray"), default="local",
                     help="local: worker processes on this machine (default); ray: each trial a Ray Tune trial")
    ray.add_argument("--address", metavar="auto|HOST:PORT",
                     help="the Ray cluster to join: auto (the one `ray start` runs here) or its head's HOST:PORT; "
                          "default: start Ray on this machine for this search")
    ray.add_argument("--cpus-per-trial", type=int, default=1, metavar="N",
                     help="CPUs (and BLAS threads) each trial gets (default 1)")
    ray.add_argument("--scheduler", choices=("fifo", "asha"), default="fifo",
                     help="asha: stop trials whose validation loss cannot win (default fifo: run every trial out)")
    ray.add_argument("--grace-period", type=int, default=1, metavar="EPOCHS",
                     help="ASHA: epochs every trial runs before it may be stopped (default 1)")
    ray.add_argument("--reduction-factor", type=int, default=2, metavar="R",
                     help="ASHA: keep the best 1/R of the trials at each rung (default 2)")
    ray.add_argument("--search", choices=("grid", "optuna"), default="grid",
                     help="grid: every combination (default); optuna: --trials samples of the --grid values "
                          "and ranges (Tune's Optuna searcher, TPE)")
    ray.add_argument("--trials", type=int, default=10, metavar="N", help="--search optuna: trials to sample (10)")
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
        name = setting_field(key, "--set")
        try:
            settings[name] = grid_search.setting_value(name, grid_search.parse_value(value.strip()))
        except ValueError as err:
            raise UsageError(f"--set {entry!r}: {err}") from None
    return settings


def setting_field(key: str, option: str) -> str:
    """The TrainConfig field a --set/--grid key names (as a field or its train flag); else a
    UsageError with the likely one (``learning-rate``: did you mean lr?)."""
    name = flags.field(key)
    if name not in flags.FIELDS:
        close = flags.meant(key)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise UsageError(f"{option} {key.strip()!r} is not a training setting{hint} (the settings are the fields "
                         "of `scratchnet train`'s flags, e.g. lr or --lr; see scratchnet train --help)")
    return name


def check_trials(trials: list[grid_search.Trial]) -> None:
    """Every trial's settings must make a valid TrainConfig: fail before any worker starts."""
    from ..train import TrainConfig

    for trial in trials:
        try:
            TrainConfig.from_dict(trial.settings).validate()
        except (TypeError, ValueError) as err:
            raise UsageError(f"trial {trial.name}: {err}") from None


def run(args) -> int:
    check_args(args)
    try:
        grid = {}
        for key, values in grid_search.parse_grid(args.grid, ranges=args.search == "optuna").items():
            name = setting_field(key, "--grid")
            grid[name] = values if isinstance(values, grid_search.Range) else \
                [grid_search.setting_value(name, value) for value in values]
    except ValueError as err:
        raise UsageError(str(err)) from None
    try:
        grid_search.check_metric(args.metric, grid)
    except ValueError as err:
        raise UsageError(str(err)) from None
    base = base_settings(args.base, args.overrides)
    check_trials(grid_search.expand(base, {k: [v.low] if isinstance(v, grid_search.Range) else v
                                           for k, v in grid.items()}))
    check_out(Path(args.out))
    try:
        rows = _search(args, base, grid)
    except ValueError as err:
        raise UsageError(str(err)) from None
    except (grid_search.TrialFailed, RuntimeError) as err:
        print(f"scratchnet search: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130  # the search has said how to continue it
    columns = ["trial", *grid, *(c for c in (args.metric, *SHOWN) if c not in grid)]
    columns += ["status"] if args.backend == "ray" else []
    print(grid_search.format_table(rows, list(dict.fromkeys(columns))))
    print(f"results: {Path(args.out) / grid_search.RESULTS} (sorted by {args.metric})")
    failed = [row["trial"] for row in rows if str(row.get("status", "")).startswith("failed")]
    if failed:
        print(f"scratchnet search: {len(failed)} trial(s) failed: {', '.join(failed)} (see the status column); "
              "running the same search again retries them", file=sys.stderr)
        return 1
    return 0


def check_args(args) -> None:
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs must be >= 1, got {args.jobs}")
    for flag in ("cpus_per_trial", "grace_period", "trials"):
        if getattr(args, flag) < 1:
            raise UsageError(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(args, flag)}")
    if args.reduction_factor < 2:
        raise UsageError(f"--reduction-factor must be >= 2, got {args.reduction_factor}")
    ray_only = [flag for flag, given in (("--address", args.address), ("--scheduler asha", args.scheduler == "asha"),
                                         ("--search optuna", args.search == "optuna")) if given]
    if args.backend == "ray" and args.jobs is not None:
        raise UsageError("--jobs sets the local backend's processes; with --backend ray, Ray runs as many trials "
                         "at once as the cluster's CPUs allow: set --cpus-per-trial")
    if args.backend == "local" and ray_only:
        raise UsageError(f"{', '.join(ray_only)} need --backend ray (pip install 'scratchnet[ray]')")


def check_out(out: Path) -> None:
    """The search directory must be a directory this user can write to."""
    try:
        (out / "trials").mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise UsageError(f"--out {out}: cannot write there ({err.strerror}); choose a folder you can write to") \
            from None


def _search(args, base: dict, grid: dict) -> list[dict]:
    if args.backend == "ray":
        from ..experiments import ray_backend

        options = ray_backend.RayOptions(
            address=args.address, cpus_per_trial=args.cpus_per_trial,
            scheduler=None if args.scheduler == "fifo" else args.scheduler, grace_period=args.grace_period,
            reduction_factor=args.reduction_factor, search=args.search, trials=args.trials, resume=args.resume)
        return ray_backend.run_ray(base, grid, args.out, options, metric=args.metric)
    trials = grid_search.expand(base, grid)
    return grid_search.run_grid(trials, args.out, jobs=args.jobs, metric=args.metric, trial=grid_search.train_trial)
