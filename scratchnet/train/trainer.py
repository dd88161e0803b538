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

The run directory (the layout ``scratchnet.report`` reads):

- ``config.json``: ``TrainConfig.to_dict()``, enough to repeat the run;
- ``history.csv``: epoch, train_loss, train_accuracy, val_loss, val_accuracy, lr, seconds;
- ``checkpoint.npz``: see ``scratchnet.train.checkpoint``;
- ``model.npz``: the final model (best epoch's weights when ``restore_best``), see ``modelfile``;
- ``metrics.json``: test_loss, test_accuracy, per_class, macro_avg, weighted_avg,
  confusion_matrix (rows = true class), best_epoch, epochs_run, stopped_early,
  train_seconds, num_parameters, model_bytes, model, loss, dataset, dataset_note;
- ``test_predictions.npz``: y_true, y_pred (int64), probabilities (float32, N×classes) and
  index, each prediction's position in the dataset's test set (a ``test_subset`` picks some).
"""
from __future__ import annotations

import contextlib
import csv
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from .. import data, nn, optim, zoo
from ..random import default_generator, manual_seed
from ..spec import build_model, load_spec, output_layer_type
from .checkpoint import TrainingState, load_checkpoint, save_checkpoint
from .config import ConfigError, TrainConfig
from .evaluation import loss_targets, make_loss, model_outputs, pick_test_images, score, write_predictions
from .metrics import format_report
from .modelfile import save_model
from .npzio import atomic_file, write_text_atomic
from .runfiles import CHECKPOINT, CONFIG, HISTORY, METRICS, MODEL, read_json

HISTORY_COLUMNS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds")


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the run directory keeps the last good checkpoint."""


@dataclass
class RunResult:
    """What ``fit`` and ``resume`` return: the run directory, the per-epoch history (the rows of
    history.csv), the test metrics (metrics.json), the trained model and the report's path
    (None when ``report=False``)."""

    run_dir: Path
    config: TrainConfig
    history: list[dict]
    metrics: dict
    model: nn.Sequential
    report: Path | None


@dataclass
class _Session:
    """Everything one run trains with, prepared and checked before the first batch."""

    config: TrainConfig
    run_dir: Path
    spec: dict
    model: nn.Sequential
    loss_name: str
    loss_fn: nn.Module
    optimizer: optim.Optimizer
    scheduler: optim.LRScheduler | None
    dataset: data.Dataset
    preprocess: data.Preprocess
    batches: data.Batches
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    test_index: np.ndarray
    quiet: bool

    def targets(self, y: np.ndarray) -> np.ndarray:
        return loss_targets(self.loss_name, y, len(self.dataset.classes))

    def say(self, message: str) -> None:
        if not self.quiet:
            print(message, flush=True)


def fit(config: TrainConfig, *, quiet: bool = False, report: bool = True,
        on_epoch_end: Callable[[dict], None] | None = None) -> RunResult:
    """Train as ``config`` says, write the run directory (``config.out``) and return the result.

    Every setting is checked before training starts (ValueError saying what is allowed).
    ``quiet`` silences the progress bar and the per-epoch lines; ``report=False`` skips the
    figures and report.html; ``on_epoch_end(row)`` is called with each history row after
    the epoch's checkpoint is written. Raises ``NonFiniteLossError`` when the loss diverges,
    and re-raises KeyboardInterrupt after saying how to resume.
    """
    with _settings_checked():
        config.validate()
        run_dir = Path(config.out or _default_out(config))
        if (run_dir / CONFIG).exists():
            raise ValueError(f"{run_dir} already holds a run; continue it with resume ({run_dir}) "
                             "or choose another output directory")
        config = TrainConfig.from_dict({**config.to_dict(), "out": str(run_dir)})
        session = _prepare(config, run_dir, quiet)
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_config(run_dir, config)
    state = TrainingState(epoch=0, spec=session.spec, model=session.model.state_dict(),
                          best_model=session.model.state_dict(), optimizer=session.optimizer.state_dict(),
                          scheduler=_scheduler_state(session), rng=default_generator().bit_generator.state)
    save_checkpoint(run_dir / CHECKPOINT, state)
    return _run(session, state, report, on_epoch_end)


def resume(run_dir: str | Path, *, epochs: int | None = None, quiet: bool = False, report: bool = True,
           on_epoch_end: Callable[[dict], None] | None = None) -> RunResult:
    """Continue the run in ``run_dir`` from its checkpoint, up to ``epochs`` (default: its config's).

    An interrupted run resumed this way ends with exactly the weights it would have had
    without the interruption.
    """
    run_dir = Path(run_dir)
    with _settings_checked():
        if not (run_dir / CONFIG).is_file() or not (run_dir / CHECKPOINT).is_file():
            raise ValueError(f"{run_dir} is not a run directory to resume: it needs {CONFIG} and {CHECKPOINT} "
                             "(written by `scratchnet train --out DIR`)")
        values = read_json(run_dir / CONFIG)
        config = TrainConfig.from_dict({**values, "out": str(run_dir), **({"epochs": epochs} if epochs else {})})
        config.validate()
        if config.schedule == "cosine" and config.epochs != values["epochs"]:
            raise ValueError(f"{run_dir} follows a cosine learning-rate schedule laid out over its {values['epochs']} "
                             "epochs; changing the number of epochs would change the epochs already trained. "
                             "Resume without --epochs, or start a new run with the epochs you want")
        state = load_checkpoint(run_dir / CHECKPOINT)
        if state.stopped_early:
            raise ValueError(f"{run_dir} stopped early at epoch {state.epoch} (no better validation loss for "
                             f"{config.early_stopping_patience} epochs); there is nothing to resume")
        if state.epoch >= config.epochs:
            raise ValueError(f"{run_dir} has already trained {state.epoch} of {config.epochs} epochs; "
                             f"pass a larger number of epochs (more than {state.epoch}) to train further")
        session = _prepare(config, run_dir, quiet, spec=state.spec)
    session.model.load_state_dict(state.model)
    session.optimizer.load_state_dict(state.optimizer)
    if session.scheduler is not None:
        session.scheduler.load_state_dict(state.scheduler)
    default_generator().bit_generator.state = state.rng
    _write_config(run_dir, config)
    session.say(f"resuming {run_dir} after epoch {state.epoch}")
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


# -- preparation: every check happens here, before any training -------------------------------------------------
def _prepare(config: TrainConfig, run_dir: Path, quiet: bool, spec: dict | None = None) -> _Session:
    """Check every setting, build the model (from ``spec`` when resuming) and load the data."""
    info = data.registry.info(config.dataset)
    classes = list(info.classes)
    unknown = sorted(set(config.class_weights) - set(classes))
    if unknown:
        raise ValueError(f"class weights name {', '.join(map(repr, unknown))}, not classes of {config.dataset}; "
                         f"its classes are {', '.join(classes)}")
    if spec is None and config.model.endswith((".json", ".toml")):
        spec = load_spec(config.model)
    elif spec is None:
        spec = zoo.spec(config.model, info.image_shape, len(classes))
    manual_seed(config.seed)
    model = build_model(spec, info.image_shape, len(classes))
    loss_name = config.loss
    if loss_name == "auto":
        loss_name = "mse" if output_layer_type(spec) == "Sigmoid" else "ce"

    ds = data.load(config.dataset, root=config.root, progress=not quiet)
    x_train, y_train = ds.x_train, ds.y_train
    if config.train_subset:
        x_train, y_train = data.subset(x_train, y_train, config.train_subset, seed=config.split_seed)
    x_tr, y_tr, x_val, y_val = data.train_val_split(x_train, y_train, config.val_size, seed=config.split_seed,
                                                    stratify=config.stratify)
    test_index = pick_test_images(ds.y_test, config.test_subset, config.split_seed)
    batch_size = len(x_tr) if config.batch_size == "full" else config.batch_size
    if batch_size > len(x_tr):
        raise ValueError(f"batch_size {batch_size} is larger than the {len(x_tr)} training images; "
                         f"use at most {len(x_tr)}, or 'full' for full-batch gradient descent")
    preprocess = data.Preprocess.fit(x_tr, kind=config.normalize)
    augment = None
    if config.augment != "none":
        augment = data.Augment(crop_padding=config.crop_padding if "crop" in config.augment else 0,
                               hflip="flip" in config.augment)
    batches = data.Batches(x_tr, y_tr, batch_size, preprocess=preprocess, shuffle=True, seed=config.seed,
                           augment=augment)
    optimizer = _optimizer(config, model)
    return _Session(config=config, run_dir=run_dir, spec=spec, model=model, loss_name=loss_name,
                    loss_fn=make_loss(loss_name, classes, config.class_weights, config.label_smoothing),
                    optimizer=optimizer,
                    scheduler=_scheduler(config, optimizer), dataset=ds, preprocess=preprocess, batches=batches,
                    x_val=x_val, y_val=y_val, x_test=ds.x_test[test_index], y_test=ds.y_test[test_index],
                    test_index=test_index, quiet=quiet)


def _optimizer(config: TrainConfig, model: nn.Module) -> optim.Optimizer:
    params, lr, decay = list(model.parameters()), config.lr, config.weight_decay
    if config.optimizer == "sgd":
        return optim.SGD(params, lr=lr, momentum=config.momentum, weight_decay=decay)
    if config.optimizer == "adam":
        return optim.Adam(params, lr=lr, betas=tuple(config.betas), weight_decay=decay)
    if config.optimizer == "adamw":
        return optim.AdamW(params, lr=lr, betas=tuple(config.betas), weight_decay=decay)
    if config.optimizer == "adagrad":
        return optim.Adagrad(params, lr=lr, weight_decay=decay)
    return optim.RMSprop(params, lr=lr, momentum=config.momentum, weight_decay=decay)


def _scheduler(config: TrainConfig, optimizer: optim.Optimizer) -> optim.LRScheduler | None:
    if config.schedule == "step":
        return optim.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma)
    if config.schedule == "cosine":
        return optim.CosineAnnealingLR(optimizer, T_max=config.epochs, eta_min=config.min_lr)
    return None


def _scheduler_state(session: _Session) -> dict | None:
    return None if session.scheduler is None else session.scheduler.state_dict()


# -- the epoch loop ----------------------------------------------------------------------------------------------
def _run(session: _Session, state: TrainingState, report: bool, on_epoch_end) -> RunResult:
    config = session.config
    session.say(_describe(session))
    threads = threadpool_limits(limits=config.threads) if config.threads else contextlib.nullcontext()
    # Overflow warnings would only precede _checked_loss's clearer message about divergence.
    with threads, np.errstate(over="ignore", invalid="ignore"):
        try:
            for epoch in range(state.epoch + 1, config.epochs + 1):
                row = _train_epoch(session, state, epoch)
                _end_epoch(session, state, row)
                if on_epoch_end is not None:
                    on_epoch_end(row)
                if state.stopped_early:
                    session.say(f"early stopping: no better validation loss for {config.early_stopping_patience} "
                                f"epochs; the best epoch was {state.best_epoch}")
                    break
        except KeyboardInterrupt:
            print(f"\ninterrupted: {session.run_dir / CHECKPOINT} holds the run after epoch {state.epoch} of "
                  f"{config.epochs}; continue it with: scratchnet train --resume {session.run_dir}", file=sys.stderr)
            raise
        return _finish(session, state, report)


def _train_epoch(session: _Session, state: TrainingState, epoch: int) -> dict:
    """One pass over the training batches; the running loss and accuracy are sample-weighted means."""
    model, loss_fn, optimizer = session.model, session.loss_fn, session.optimizer
    lr = optimizer.param_groups[0]["lr"]
    start = time.perf_counter()
    seen, loss_sum, correct = 0, 0.0, 0
    model.train()
    bar = tqdm(total=len(session.batches.x), desc=f"epoch {epoch}/{session.config.epochs}", unit="img",
               leave=False, dynamic_ncols=True, disable=session.quiet or not sys.stderr.isatty())
    with bar:
        for batch, (xb, yb) in enumerate(session.batches.epoch(epoch), start=1):
            logits = model(xb)
            loss = _checked_loss(session, state, logits, yb, epoch, f"batch {batch} of {len(session.batches)}", lr)
            model.backward(loss_fn.backward(), input_grad=False)
            optimizer.step()
            optimizer.zero_grad()
            seen += len(yb)
            loss_sum += float(loss) * len(yb)
            correct += int(np.count_nonzero(logits.argmax(axis=1) == yb))
            bar.update(len(yb))
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}", refresh=False)
    val_outputs = model_outputs(model, session.x_val, session.preprocess)
    val_loss = _checked_loss(session, state, val_outputs, session.y_val, epoch, "validation", lr)
    return {
        "epoch": epoch,
        "train_loss": loss_sum / seen,
        "train_accuracy": correct / seen,
        "val_loss": float(val_loss),
        "val_accuracy": float(np.mean(val_outputs.argmax(axis=1) == session.y_val)),
        "lr": lr,
        "seconds": round(time.perf_counter() - start, 3),
    }


def _checked_loss(session: _Session, state: TrainingState, outputs: np.ndarray, labels: np.ndarray, epoch: int,
                  where: str, lr: float):
    """The loss of ``outputs``, or NonFiniteLossError (naming where, and the fix) when they or it are NaN/inf."""
    try:
        if np.isfinite(outputs).all():
            return session.loss_fn(outputs, session.targets(labels))
    except nn.LossNotFiniteError:
        pass
    raise NonFiniteLossError(
        f"the loss became NaN or infinite in epoch {epoch}, {where}: training diverged and stopped. "
        f"{session.run_dir / CHECKPOINT} keeps the last good state (after epoch {state.epoch}). "
        f"Try a lower learning rate, e.g. --lr {lr / 10:g} (now {lr:g})")


def _end_epoch(session: _Session, state: TrainingState, row: dict) -> None:
    """Track the best epoch, step the schedule, save checkpoint and history, print the epoch's line."""
    config, model = session.config, session.model
    improved = row["val_loss"] < state.best_val_loss
    if improved:
        state.best_epoch, state.best_val_loss = row["epoch"], row["val_loss"]
        state.best_model = model.state_dict()
        state.epochs_without_improvement = 0
    else:
        state.epochs_without_improvement += 1
    patience = config.early_stopping_patience
    state.stopped_early = patience is not None and state.epochs_without_improvement >= patience
    if session.scheduler is not None:
        session.scheduler.step()
    state.history.append(row)
    state.model = model.state_dict()
    state.optimizer = session.optimizer.state_dict()
    state.scheduler = _scheduler_state(session)
    state.rng = default_generator().bit_generator.state
    state.epoch = row["epoch"]
    save_checkpoint(session.run_dir / CHECKPOINT, state)
    _write_history(session.run_dir / HISTORY, state.history)
    session.say(f"epoch {row['epoch']:>{len(str(config.epochs))}}/{config.epochs}  "
                f"train loss {row['train_loss']:.4f} acc {row['train_accuracy']:.2%}  "
                f"val loss {row['val_loss']:.4f} acc {row['val_accuracy']:.2%}  "
                f"lr {row['lr']:.3g}  {row['seconds']:.1f}s" + ("  *best" if improved else ""))


def _write_history(path: Path, history: list[dict]) -> None:
    with atomic_file(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=HISTORY_COLUMNS)
        writer.writeheader()
        writer.writerows(history)


def _describe(session: _Session) -> str:
    config, model = session.config, session.model
    batch = "full" if config.batch_size == "full" else session.batches.batch_size
    return (f"training {config.model} ({model.num_parameters():,} parameters) on {config.dataset}: "
            f"{len(session.batches.x):,} train / {len(session.y_val):,} validation / {len(session.y_test):,} test "
            f"images; {config.epochs} epochs of {session.loss_name} loss, {config.optimizer} lr {config.lr:g}, "
            f"batch {batch}; run directory {session.run_dir}")


# -- after training: the test set, the model file, the metrics ---------------------------------------------------
def _finish(session: _Session, state: TrainingState, report: bool) -> RunResult:
    config, model, run_dir, ds = session.config, session.model, session.run_dir, session.dataset
    if config.restore_best and state.best_epoch:
        model.load_state_dict(state.best_model)
    outputs = model_outputs(model, session.x_test, session.preprocess)
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
    }
    write_text_atomic(run_dir / METRICS, json.dumps(metrics, indent=2) + "\n")
    write_predictions(run_dir, session.y_test, scores, session.test_index)
    report_path = None
    if report:
        from ..report import write_report  # imported here: matplotlib is slow to import

        report_path = write_report(run_dir, test_images=session.x_test)
    session.say(summary(metrics, run_dir, report_path))
    return RunResult(run_dir, config, state.history, metrics, model, report_path)


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
