"""Grid search: every combination of some settings, trained in parallel worker processes.

    grid = parse_grid(["model=cnn3-128-0.1,cnn3-256-0.1", "lr=1e-3,3e-4"])
    trials = expand({"dataset": "fashion-mnist", "epochs": 5}, grid)      # 4 trials
    results = run_grid(trials, "runs/search", jobs=2)                       # rows sorted by val_loss
    print(format_table(results, metric="val_loss"))

Each trial is a dict of ``TrainConfig`` settings trained into ``OUT/trials/<trial name>``.
A trial counts as finished when its directory holds ``metrics.json``: re-running the same
search skips it (and resumes a trial that was interrupted mid-run), so a search is resumable.
Trials run in processes of their own with one BLAS thread each (``pool``), or on a Ray
cluster (``ray_backend``).
"""
from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import os
import sys
from pathlib import Path
from typing import Callable, NamedTuple

from ..suggest import did_you_mean
from ..train import flags
from ..train.runfiles import HISTORY, METRICS, atomic_file, is_finished, read_history, read_json
from .pool import Job, TrialFailed, TrialFn, run_trials

RESULTS = "results.csv"
# The numeric columns a trained trial's row has (summarize: metrics.json plus the best epoch's validation).
METRIC_COLUMNS = ("val_loss", "val_accuracy", "test_loss", "test_accuracy", "best_epoch", "epochs_run", "train_seconds",
           "num_parameters", "model_bytes", "steps_per_epoch")
# Sorted descending (higher is better); every other metric is sorted ascending (losses, times).
HIGHER_IS_BETTER = ("accuracy", "f1", "precision", "recall")


class Trial(NamedTuple):
    """One point of a grid: its directory name, all its settings, and the grid's values alone."""

    name: str
    settings: dict
    grid_values: dict


def parse_value(text: str):
    """A setting's value from the command line: JSON when it parses (1e-3, 5, true, null), else the text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def setting_value(field: str, value):
    """A parsed command-line value as the TrainConfig field takes it: ``class_weights`` given as
    ``Sandal=2`` or ``Sandal=2;Bag=3`` (as ``train --class-weight`` reads it) becomes
    ``{"Sandal": 2.0, "Bag": 3.0}``; every other value comes back as it is."""
    if field != "class_weights" or not isinstance(value, str):
        return value
    weights = {}
    for part in value.split(";"):
        try:
            name, weight = flags.class_weight(part)
        except ValueError:
            raise ValueError(f"class weight {part.strip()!r} must look like NAME=WEIGHT, several separated by ';' "
                             "(e.g. --set 'class-weight=Sandal=2;Bag=3')") from None
        weights[name] = weight
    return weights


class Range(NamedTuple):
    """A range to sample from (``--search optuna``): ``loguniform``/``uniform`` floats or ``randint``
    integers in [low, high]."""

    kind: str
    low: float
    high: float


RANGES = ("loguniform", "uniform", "randint")
SPACE_HELP = ("KEY=V1,V2,... (values to try), or with --search optuna also KEY=loguniform:LOW:HIGH, "
              "KEY=uniform:LOW:HIGH or KEY=randint:LOW:HIGH (e.g. lr=loguniform:1e-4:1e-2)")


def parse_grid(entries: list[str], ranges: bool = False) -> dict[str, list | Range]:
    """``["lr=1e-3,3e-4", "model=a,b"]`` → ``{"lr": [0.001, 0.0003], "model": ["a", "b"]}``; with
    ``ranges``, ``lr=loguniform:1e-4:1e-2`` → ``{"lr": Range("loguniform", 1e-4, 1e-2)}`` too."""
    grid: dict[str, list | Range] = {}
    for entry in entries:
        key, sep, values = entry.partition("=")
        key = key.strip()
        if not sep or not key or not values.strip():
            raise ValueError(f"grid entry {entry!r} must look like KEY=VALUE1,VALUE2 (e.g. lr=1e-3,3e-4)")
        if key in grid:
            raise ValueError(f"grid key {key!r} is given twice; list all its values in one entry: {key}=A,B")
        kind = values.partition(":")[0].strip()
        if kind in RANGES:
            if not ranges:
                raise ValueError(f"grid entry {entry!r} is a range to sample from, which needs --search optuna; "
                                 f"a grid lists its values: {key}=V1,V2")
            grid[key] = parse_range(entry, values)
        else:
            grid[key] = [parse_value(v.strip()) for v in values.split(",")]
    return grid


def parse_range(entry: str, text: str) -> Range:
    """``loguniform:1e-4:1e-2`` → Range; ValueError saying what is allowed otherwise."""
    parts = [part.strip() for part in text.split(":")]
    try:
        kind, low, high = parts
        low, high = (int(low), int(high)) if kind == "randint" else (float(low), float(high))
        if not low < high or (kind == "loguniform" and low <= 0):
            raise ValueError
    except ValueError:
        raise ValueError(f"search space entry {entry!r} does not parse; allowed: {SPACE_HELP}, with LOW < HIGH "
                         "(and LOW > 0 for loguniform)") from None
    return Range(kind, low, high)


def trial_name(settings: dict) -> str:
    """A directory name for a trial's grid settings, e.g. ``model-cnn3-128-0.1_lr-0.001``."""
    return "_".join(f"{key}-{_name_part(value)}" for key, value in settings.items()).replace("/", "-").replace(" ", "")


def _name_part(value) -> str:
    """A value as it reads in a trial's name: class weights ``{"Sandal": 2.0}`` as ``Sandal=2``."""
    if isinstance(value, dict):
        return "+".join(f"{key}={_cell(weight)}" for key, weight in value.items())
    return str(value)


def expand(base: dict, grid: dict[str, list]) -> list[Trial]:
    """A Trial for every combination of the grid's values on top of ``base``, in grid order."""
    keys = list(grid)
    trials = []
    for values in itertools.product(*(grid[key] for key in keys)):
        chosen = dict(zip(keys, values))
        trials.append(Trial(trial_name(chosen), {**base, **chosen}, chosen))
    return trials


def train_trial(settings: dict, run_dir: str) -> None:
    """Train one trial quietly, without a report, on one BLAS thread (or resume it, see ``fit_or_resume``).

    Interrupted (Ctrl-C), the trial says nothing: the trainer's own ``train --resume`` hint is
    dropped, since the search prints one hint for all its trials. Otherwise what the trainer
    wrote to stderr is passed on."""
    from ..train import fit_or_resume

    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            fit_or_resume(run_dir, {**settings, "threads": 1}, quiet=True)
    except KeyboardInterrupt:
        raise
    except BaseException:
        sys.stderr.write(stderr.getvalue())
        raise
    sys.stderr.write(stderr.getvalue())


def summarize(run_dir: Path) -> dict:
    """The scalar values of a finished trial's metrics.json (none for a trial stopped early by a
    scheduler: then ``epochs_run`` from history.csv), plus the best epoch's validation loss and
    accuracy from history.csv when there is one (the row with the minimum val_loss)."""
    metrics = read_json(run_dir / METRICS) if is_finished(run_dir) else {}
    row = {key: value for key, value in metrics.items() if isinstance(value, (int, float, str)) and key != "dataset_note"}
    if (run_dir / HISTORY).is_file():
        history = read_history(run_dir / HISTORY)
        row.setdefault("epochs_run", len(history))
        validated = [r for r in history if r["val_loss"] == r["val_loss"]]  # not NaN
        if validated:
            best = min(validated, key=lambda r: r["val_loss"])
            row["val_loss"], row["val_accuracy"] = best["val_loss"], best["val_accuracy"]
    return row


def run_grid(trials: list[Trial], out: str | Path, jobs: int | None = None,
             metric: str = "val_loss", trial: TrialFn = train_trial,
             progress: Callable[[str], None] | None = print) -> list[dict]:
    """Run the unfinished ``trials`` in ``jobs`` processes at a time (default: the number of
    cores), write ``OUT/results.csv`` sorted by ``metric`` and return its rows.

    ``trial(settings, run_dir)`` must leave ``metrics.json`` in ``run_dir`` (a module-level
    function, so that it could be pickled). A trial that fails (raises, or its process is
    killed) stops the search: no further trial starts, the running ones finish, and the
    error is raised (``pool.TrialFailed`` for a killed process). Ctrl-C stops the running
    trials too, keeping the checkpoint of their last finished epoch. Finished trials stay
    finished, so running the same search again continues it.
    """
    jobs = jobs or os.cpu_count() or 1
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    out = Path(out)
    say = progress or (lambda message: None)
    todo = unfinished(trials, out, say)
    if todo:
        say(f"running {len(todo)} trial(s) in {min(jobs, len(todo))} worker process(es)")
        try:
            run_trials([Job(t.name, trial, t.settings, str(trial_dir(out, t))) for t in todo], jobs, say)
        except KeyboardInterrupt:
            say("search interrupted: run the same command again to continue it (finished trials are "
                "skipped, interrupted ones resume from their last checkpoint)")
            raise
    return collect(trials, out, metric)


def trial_dir(out: Path, trial: Trial) -> Path:
    return out / "trials" / trial.name


def unfinished(trials: list[Trial], out: Path, say: Callable[[str], None]) -> list[Trial]:
    """The trials without a finished run in ``out``; duplicate names are an error."""
    names = [t.name for t in trials]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"the grid lists these trials more than once: {', '.join(duplicates)}")
    todo = [t for t in trials if not is_finished(trial_dir(out, t))]
    if len(todo) < len(trials):
        say(f"skipping {len(trials) - len(todo)} finished trial(s) in {out / 'trials'}")
    return todo


def collect(trials: list[Trial], out: Path, metric: str) -> list[dict]:
    """Every trial's row (its grid values, ``summarize``, run_dir), sorted by ``metric``, written to results.csv."""
    rows = [{"trial": t.name, **t.grid_values, **summarize(trial_dir(out, t)), "run_dir": str(trial_dir(out, t))}
            for t in trials]
    rows = sort_rows(rows, metric)
    write_csv(rows, out / RESULTS)
    return rows


def check_metric(metric: str, grid_keys) -> None:
    """ValueError, before any training, when ``metric`` is neither a trial's metric nor a grid setting."""
    known = [*METRIC_COLUMNS, *grid_keys]
    if metric not in known:
        raise ValueError(f"--metric {metric!r} is not a column of the results{did_you_mean(metric, known)} "
                         f"(choose from {', '.join(known)})")


def sort_rows(rows: list[dict], metric: str) -> list[dict]:
    """Rows best first by ``metric``: descending for accuracy-like metrics, ascending otherwise.
    Rows with a ``status`` other than "finished" (stopped, failed) may lack it: they go last."""
    unscored = [row for row in rows if row.get("status", "finished") != "finished"
                and not isinstance(row.get(metric), (int, float))]
    rows = [row for row in rows if not any(row is other for other in unscored)]
    missing = [row["trial"] for row in rows if not isinstance(row.get(metric), (int, float))]
    if missing:
        known = sorted({key for row in rows for key, value in row.items() if isinstance(value, (int, float))})
        raise ValueError(f"metric {metric!r} is missing from trial(s) {', '.join(missing)}; "
                         f"numeric columns are {', '.join(known)}")
    descending = any(word in metric for word in HIGHER_IS_BETTER)
    return sorted(rows, key=lambda row: row[metric], reverse=descending) + unscored


def _columns(rows: list[dict]) -> list[str]:
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    return columns


def write_csv(rows: list[dict], path: Path) -> None:
    with atomic_file(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=_columns(rows))
        writer.writeheader()
        writer.writerows(rows)


def _cell(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def format_table(rows: list[dict], columns: list[str] | None = None) -> str:
    """``rows`` as an aligned text table (numbers right-aligned), one line per row after the header."""
    columns = columns or [c for c in _columns(rows) if c != "run_dir"]
    cells = [[_cell(row.get(column, "")) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)]
    numeric = [all(isinstance(row[column], (int, float)) for row in rows if row.get(column, "") != "")
               for column in columns]  # a stopped trial's empty test columns do not make a column text

    def line(values):
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths]), *(line(values) for values in cells)])
