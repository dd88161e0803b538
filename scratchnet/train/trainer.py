"""``fit(config)``: train a model, evaluate it and write the run directory; ``resume(run_dir)``.

    from scratchnet import TrainConfig, fit
    result = fit(TrainConfig(model="lenet5", epochs=5, out="runs/lenet"))
    result.metrics["test_accuracy"], result.history[-1]["val_loss"]

Each epoch runs one pass over the training split in shuffled mini-batches
(``logits = model(x); loss = loss_fn(logits, y); model.backward(loss_fn.backward());
opt.step(); opt.zero_grad()``), then measures the validation loss and accuracy in eval
mode. The best epoch is the one with the lowest validation loss (SEEDS.md 002). After every
epoch ``checkpoint.npz`` and ``history.csv`` are rewritten, so Ctrl-C loses at most the
epoch in progress and ``resume`` continues bit for bit as if never interrupted.

The pieces: ``session`` checks the settings, builds the model and loads the data; ``loop``
runs the epochs; this module ties them together and writes the test metrics and the model
file. ``train`` never imports ``report``: a caller that wants report.html passes
``report=scratchnet.report.write_report`` (the train command and the experiments do).

The run directory (the layout ``scratchnet.report`` reads):

- ``config.json``: ``TrainConfig.to_dict()``, enough to repeat the run;
- ``history.csv``: epoch, train_loss, train_accuracy, val_loss, val_accuracy, lr, seconds;
- ``checkpoint.npz``: see ``scratchnet.train.checkpoint``;
- ``model.npz``: the final model (best epoch's weights when ``restore_best``), see ``modelfile``;
- ``metrics.json``: test_loss, test_accuracy, per_class, macro_avg, weighted_avg,
  confusion_matrix (rows = true class), best_epoch, epochs_run, stopped_early,
  train_seconds, num_parameters, model_bytes, model, loss, dataset, dataset_note, train_images, val_images;
- ``test_predictions.npz``: y_true, y_pred (int64), probabilities (float32, N×classes) and
  index, each prediction's position in the dataset's test set (a ``test_subset`` picks some).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from threadpoolctl import threadpool_limits

from .. import data, nn
from ..random import default_generator
from ..terminal import format_duration, plural
from .budget import check_first_epoch, planned_epochs
from .checkpoint import TrainingState, load_checkpoint, save_checkpoint
from .config import ConfigError, TrainConfig
from .ema import WeightAverage
from .evaluation import model_outputs, score, write_predictions
from .loop import NonFiniteLossError, describe, end_epoch, train_epoch
from .metrics import format_report
from .modelfile import save_model
from .runfiles import CHECKPOINT, CONFIG, METRICS, MODEL, claim, is_finished, read_json, write_text_atomic
from .schedules import is_planned, make_scheduler, steps_when
from .session import Session, prepare

__all__ = ["NonFiniteLossError", "RunResult", "fit", "resume", "summary"]

ReportWriter = Callable[..., Path]
"""``report(run_dir, test_images=x_test) -> path of report.html``: e.g. ``scratchnet.report.write_report``."""


@dataclass
class RunResult:
    """What ``fit`` and ``resume`` return: the run directory, the per-epoch history (the rows of
    history.csv), the test metrics (metrics.json), the trained model and the report's path
    (None without a ``report`` writer)."""

    run_dir: Path
    config: TrainConfig
    history: list[dict]
    metrics: dict
    model: nn.Sequential
    report: Path | None


def fit(config: TrainConfig, *, quiet: bool = False, report: ReportWriter | None = None,
        on_epoch_end: Callable[[dict], None] | None = None) -> RunResult:
    """Train as ``config`` says, write the run directory (``config.out``) and return the result.

    Every setting is checked before training starts (ValueError saying what is allowed).
    ``quiet`` silences the progress bar and the per-epoch lines; ``report``, when given, is
    called as ``report(run_dir, test_images=...)`` after the metrics are written, to draw the
    figures and report.html (pass ``scratchnet.report.write_report``); ``on_epoch_end(row)``
    is called with each history row after the epoch's checkpoint is written. Raises
    ``NonFiniteLossError`` when the loss diverges, and re-raises KeyboardInterrupt after
    saying how to resume. The run directory is claimed (``runfiles.claim``) before anything is
    read: a second process training into it fails at once.
    """
    with _settings_checked():
        config.validate()
        run_dir = Path(config.out or _default_out(config))
        if run_dir.exists() and not run_dir.is_dir():
            raise ValueError(f"the output {run_dir} is a file, not a folder; choose a folder for the run")
    with claim(run_dir):
        return _fit(config, run_dir, quiet, report, on_epoch_end)


def _fit(config: TrainConfig, run_dir: Path, quiet: bool, report: ReportWriter | None, on_epoch_end) -> RunResult:
    with _settings_checked():
        if (run_dir / CONFIG).exists():
            raise ValueError(f"{run_dir} already holds a run; continue it with `scratchnet train --resume {run_dir}` "
                             f"(in Python: resume({str(run_dir)!r})) or choose another output directory (--out)")
        config = TrainConfig.from_dict({**config.to_dict(), "out": str(run_dir)})
        session = prepare(config, run_dir, quiet)
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_config(run_dir, config)
    state = TrainingState(epoch=0, spec=session.spec, model=session.model.state_dict(),
                          best_model=session.evaluated_state(), optimizer=session.optimizer.state_dict(),
                          scheduler=session.scheduler_state(), rng=default_generator().bit_generator.state,
                          ema=session.evaluated_state() if session.ema is not None else None)
    save_checkpoint(run_dir / CHECKPOINT, state)
    return _run(session, state, report, on_epoch_end)


def resume(run_dir: str | Path, *, epochs: int | None = None, quiet: bool = False,
           report: ReportWriter | None = None, on_epoch_end: Callable[[dict], None] | None = None) -> RunResult:
    """Continue the run in ``run_dir`` from its checkpoint, up to ``epochs`` (default: its config's).

    An interrupted run resumed this way ends with exactly the weights it would have had
    without the interruption; a run killed after its last epoch's checkpoint but before its
    model and metrics were written is finished. ``report`` and ``on_epoch_end`` are as for ``fit``.
    """
    run_dir = Path(run_dir)
    with _settings_checked():
        if not (run_dir / CONFIG).is_file() or not (run_dir / CHECKPOINT).is_file():
            raise ValueError(f"{run_dir} is not a run directory to resume: it needs {CONFIG} and {CHECKPOINT} "
                             "(written by `scratchnet train --out DIR`)")
    with claim(run_dir):
        return _resume(run_dir, epochs, quiet, report, on_epoch_end)


def _resume(run_dir: Path, epochs: int | None, quiet: bool, report: ReportWriter | None,
            on_epoch_end) -> RunResult:
    with _settings_checked():
        values = read_json(run_dir / CONFIG)
        config = TrainConfig.from_dict({**values, "out": str(run_dir), **({"epochs": epochs} if epochs else {})})
        config.validate()
        if is_planned(config.schedule) and config.epochs != values["epochs"]:
            raise ValueError(f"{run_dir} follows a {config.schedule} learning-rate schedule laid out "
                             f"over its {values['epochs']} epochs; changing the number of epochs would change the "
                             "epochs already trained. Resume without --epochs, or start a new run with the epochs "
                             "you want")
        state = load_checkpoint(run_dir / CHECKPOINT)
        if state.stopped_early and is_finished(run_dir):
            raise ValueError(f"{run_dir} stopped early at epoch {state.epoch} (no better validation loss for "
                             f"{config.early_stopping_patience} epochs); there is nothing to resume")
        if state.epoch >= config.epochs and is_finished(run_dir):
            raise ValueError(f"{run_dir} has already trained {state.epoch} of {config.epochs} epochs; "
                             f"pass a larger number of epochs (more than {state.epoch}) to train further")
        session = prepare(config, run_dir, quiet, spec=state.spec)
    try:
        session.model.load_state_dict(state.model)
        session.optimizer.load_state_dict(state.optimizer)
        if session.scheduler is not None:
            session.scheduler.load_state_dict(state.scheduler)
        if session.ema is not None and state.ema is not None:
            session.ema = WeightAverage(session.model, config.ema_decay, state.ema, state.ema_updates)
        default_generator().bit_generator.state = state.rng
    except (KeyError, ValueError, TypeError, IndexError, AttributeError) as err:
        raise ConfigError(f"{run_dir / CHECKPOINT} is corrupted: it does not fit the run's model and optimizer "
                          f"({type(err).__name__}: {str(err)[:200]}); resume from a good copy or train anew") from None
    _write_config(run_dir, config)
    session.say(f"resuming {run_dir} after epoch {state.epoch}" if state.epoch < config.epochs and not
                state.stopped_early else f"finishing {run_dir}: its {state.epoch} epochs are trained")
    return _run(session, state, report, on_epoch_end)


@contextlib.contextmanager
def _settings_checked():
    """Turn the ValueErrors of checking settings and preparing data into ConfigError: nothing has
    been trained yet, so the caller (e.g. the command line) reports them as bad arguments."""
    try:
        yield
    except ConfigError:
        raise
    except (ValueError, data.DatasetNotFoundError) as err:
        raise ConfigError(str(err)) from None


def _write_config(run_dir: Path, config: TrainConfig) -> None:
    write_text_atomic(run_dir / CONFIG, json.dumps(config.to_dict(), indent=2) + "\n")


def _default_out(config: TrainConfig) -> str:
    model = Path(config.model).stem if config.model.endswith((".json", ".toml")) else config.model
    return f"runs/{config.dataset}-{model}-{time.strftime('%Y%m%d-%H%M%S')}"


def _run(session: Session, state: TrainingState, report: ReportWriter | None, on_epoch_end) -> RunResult:
    """The epochs from ``state.epoch + 1`` on, then the test set; Ctrl-C says how to resume."""
    config = session.config
    session.say(describe(session, budgeting=state.epoch == 0 and config.time_budget is not None))
    session.say(str(session.model.summary(session.batches.x.shape[1:], session.batches.batch_size)))
    threads = threadpool_limits(limits=config.threads) if config.threads else contextlib.nullcontext()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if config.threads and config.threads > cores:
        print(f"warning: {config.threads} threads on {cores} cores: threads beyond the cores wait for each "
              f"other and slow training down; use --threads {cores} or leave it out", file=sys.stderr, flush=True)
    # Overflow warnings would only precede checked_loss's clearer message about divergence.
    with threads, np.errstate(over="ignore", invalid="ignore"):
        try:
            epoch = state.epoch + 1
            while epoch <= session.config.epochs and not state.stopped_early:
                first = epoch == 1 and config.time_budget is not None
                row = train_epoch(session, state, epoch, _budget_watch(session) if first else None)
                if config.time_budget is not None:
                    _plan_within_budget(session, epoch, sum(r["seconds"] for r in state.history) + row["seconds"])
                end_epoch(session, state, row)
                if on_epoch_end is not None:
                    on_epoch_end(row)
                if state.stopped_early:
                    session.say(f"early stopping: no better validation loss for {config.early_stopping_patience} "
                                f"epochs; the best epoch was {state.best_epoch}")
                    break
                epoch += 1
        except KeyboardInterrupt:
            print(f"\ninterrupted: {session.run_dir / CHECKPOINT} holds the run after epoch {state.epoch} of "
                  f"{session.config.epochs}; continue it with: scratchnet train --resume {session.run_dir}",
                  file=sys.stderr)
            raise
        return _finish(session, state, report)


def _budget_watch(session: Session):
    """on_batch for the first epoch of a budgeted run: stop as soon as the budget is used up."""
    start = time.perf_counter()

    def watch(batch: int) -> None:
        check_first_epoch(time.perf_counter() - start, batch, len(session.batches), session.config.time_budget,
                          session.run_dir)
    return watch


def _plan_within_budget(session: Session, epochs_done: int, seconds_spent: float) -> None:
    """After each epoch of a budgeted run: the run's epochs are those that fit in its time budget.

    After the first epoch: as many as fit at its speed. After later ones: as many as fit at the
    average speed so far, fewer when the machine got busier, more when the first epoch was slow.
    A planned schedule (cosine, onecycle, ...) is laid out again over the new length, from the
    steps taken."""
    config = session.config
    budget, before = config.time_budget, config.epochs
    epochs = planned_epochs(budget, epochs_done, seconds_spent)
    if epochs == before and epochs_done > 1:
        return  # the plan stands (after the first epoch it is always said)
    session.config = config = dataclasses.replace(config, epochs=epochs)
    _write_config(session.run_dir, config)
    if is_planned(config.schedule):
        for group in session.optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        session.scheduler = make_scheduler(config, session.optimizer, session.plan(epochs))
        # Replay the steps taken; end_epoch steps an epoch-wise schedule for this epoch itself.
        taken = epochs_done * len(session.batches) if steps_when(config.schedule) == "step" else epochs_done - 1
        for _ in range(taken):
            session.scheduler.step()
    per_epoch = format_duration(seconds_spent / epochs_done)
    said = (f"the first epoch took {per_epoch}" if epochs_done == 1 else
            f"its epochs took {per_epoch} on average, {'longer' if epochs < before else 'less'} than planned")
    session.say(f"time budget {format_duration(budget)}: {said}, so the run trains {plural(epochs, 'epoch')}"
                + (f" and lays its {config.schedule} schedule out over that length" if is_planned(config.schedule)
                   else ""))


# -- after training: the test set, the model file, the metrics ---------------------------------------------------
def _finish(session: Session, state: TrainingState, report: ReportWriter | None) -> RunResult:
    config, model, run_dir, ds = session.config, session.model, session.run_dir, session.dataset
    if config.restore_best and state.best_epoch:
        model.load_state_dict(state.best_model)
    elif session.ema is not None:
        model.load_state_dict(session.ema.state)
    outputs = model_outputs(model, session.x_test, session.preprocess, tta=config.tta, progress=not session.quiet)
    scores = score(session.spec, outputs, session.y_test, ds.classes, session.loss_fn, session.loss_name)
    save_model(run_dir / MODEL, model, session.spec, session.preprocess, ds.classes, ds.image_shape, ds.name,
               extra={"loss": session.loss_name, "best_epoch": state.best_epoch})
    metrics = {
        **scores.metrics,
        "best_epoch": state.best_epoch,
        "epochs_run": len(state.history),
        "stopped_early": state.stopped_early,
        "train_seconds": round(sum(row["seconds"] for row in state.history), 3),
        "num_parameters": model.num_parameters(),
        "model_bytes": (run_dir / MODEL).stat().st_size,
        "model": config.model,
        "loss": session.loss_name,
        "dataset": ds.name,
        "dataset_note": ds.note,
        "train_images": len(session.batches.x), "val_images": len(session.x_val),
        **_recipe_record(config, state, len(session.batches)),
    }
    write_predictions(run_dir, session.y_test, scores, session.test_index)
    write_text_atomic(run_dir / METRICS, json.dumps(metrics, indent=2) + "\n")  # last: the run is finished
    report_path = report(run_dir, test_images=session.x_test) if report is not None else None
    session.say(summary(metrics, run_dir, report_path))
    return RunResult(run_dir, config, state.history, metrics, model, report_path)


def _recipe_record(config: TrainConfig, state: TrainingState, steps_per_epoch: int) -> dict:
    """metrics.json's record of the training features a run used: the weights it was scored with,
    test-time augmentation, optimiser steps per epoch, the recipe and what a time budget planned."""
    record = {"weights": "moving average" if config.ema_decay else "trained", "tta": config.tta,
              "steps_per_epoch": steps_per_epoch}
    if config.recipe:
        record["recipe"] = config.recipe
    if config.time_budget is not None and state.history:
        record["time_budget"] = {"budget_seconds": config.time_budget,
                                 "first_epoch_seconds": state.history[0]["seconds"],
                                 "planned_epochs": config.epochs}
    return record


def summary(metrics: dict, run_dir: Path, report_path: Path | None) -> str:
    """The text printed after training: test numbers, the classification report, where things are."""
    restored = f" (weights of epoch {metrics['best_epoch']}, the best on validation)" if metrics["best_epoch"] else ""
    lines = [
        f"test loss {metrics['test_loss']:.4f}  test accuracy {metrics['test_accuracy']:.2%}{restored}",
        *([f"note: {metrics['dataset_note']}"] if metrics["dataset_note"] else []),
        "",
        format_report(metrics, digits=4),
        f"model: {run_dir / MODEL} ({metrics['model_bytes'] / 1e6:.2f} MB, {metrics['num_parameters']:,} parameters)",
    ]
    if report_path is not None:
        lines.append(f"report: {report_path}")
    return "\n".join(lines)
