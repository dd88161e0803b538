"""The epoch loop of ``fit``: one pass over the training batches, the validation loss, the bookkeeping.

``train_epoch`` returns one history row; each batch is (optionally) mixed, forwarded, its loss
differentiated, the gradients clipped, the optimiser, the weight average and a per-step
schedule stepped. ``end_epoch`` tracks the best epoch, steps a per-epoch schedule, saves
``checkpoint.npz`` and ``history.csv`` and prints the epoch's line.
"""
from __future__ import annotations

import csv
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from .. import nn
from ..data.augment import Mix
from ..random import default_generator
from ..terminal import format_duration, paint, plural, run_seconds_left
from .checkpoint import TrainingState, save_checkpoint
from .runfiles import CHECKPOINT, HISTORY, atomic_file
from .losses import mixed_loss
from .schedules import steps_when
from .session import Session

HISTORY_COLUMNS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds")


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the run directory keeps the last good checkpoint."""


MIX_STREAM = 1  # the batch mix draws from its own generator, seeded by (seed, epoch, MIX_STREAM)


def train_epoch(session: Session, state: TrainingState, epoch: int, on_batch: Callable[[int], None] | None = None
                ) -> dict:
    """One pass over the training batches; the running loss and accuracy are sample-weighted means
    (with a batch mix, each label counts with its weight). ``on_batch(n)`` is called after batch n."""
    model, optimizer, config = session.model, session.optimizer, session.config
    lr = optimizer.param_groups[0]["lr"]
    start = time.perf_counter()
    seen, loss_sum, correct = 0, 0.0, 0.0
    per_step = steps_when(config.schedule) == "step"
    mix_rng = np.random.default_rng([config.seed, epoch, MIX_STREAM])
    model.train()
    bar = tqdm(total=len(session.batches.x), desc=f"epoch {epoch}/{config.epochs}", unit="img",
               leave=False, dynamic_ncols=True, disable=session.quiet or not sys.stderr.isatty())
    with bar:
        for batch, (xb, yb) in enumerate(session.batches.epoch(epoch), start=1):
            mix = session.mix(xb, mix_rng) if session.mix is not None else None
            logits = model(mix.x if mix is not None else xb)
            where = f"batch {batch} of {len(session.batches)}"
            loss, grad = _loss_and_gradient(session, state, logits, yb, mix, epoch, where, lr)
            model.backward(grad, input_grad=False)
            if config.clip_grad_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), config.clip_grad_norm)
            optimizer.step()
            optimizer.zero_grad()
            if session.ema is not None:
                session.ema.update(model)
            if per_step:
                session.scheduler.step()
            seen += len(yb)
            loss_sum += float(loss) * len(yb)
            correct += _correct(logits, yb, mix)
            bar.update(len(yb))
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}", refresh=False)
            if on_batch is not None:
                on_batch(batch)
    val_outputs = session.outputs(session.x_val)
    val_loss = checked_loss(session, state, val_outputs, session.y_val, epoch, "validation", lr)
    return {
        "epoch": epoch,
        "train_loss": loss_sum / seen,
        "train_accuracy": float(correct) / seen,
        "val_loss": float(val_loss),
        "val_accuracy": float(np.mean(val_outputs.argmax(axis=1) == session.y_val)),
        "lr": lr,
        "seconds": round(time.perf_counter() - start, 3),
    }


def _correct(logits: np.ndarray, y: np.ndarray, mix: Mix | None) -> float:
    """Correct predictions in a batch; in a mixed batch each label counts with its weight λ or 1 − λ."""
    predicted = logits.argmax(axis=1)
    if mix is None:
        return float(np.count_nonzero(predicted == y))
    return mix.lam * np.count_nonzero(predicted == y) + (1 - mix.lam) * np.count_nonzero(predicted == y[mix.partner])


def _loss_and_gradient(session: Session, state: TrainingState, logits: np.ndarray, y: np.ndarray, mix: Mix | None,
                       epoch: int, where: str, lr: float) -> tuple[float, np.ndarray]:
    """The batch's loss and its gradient with respect to ``logits`` (for a mixed batch, see ``mixed_loss``)."""
    if mix is None:
        loss = checked_loss(session, state, logits, y, epoch, where, lr)
        return float(loss), session.loss_fn.backward()
    targets, partner_targets = session.targets(y), session.targets(y[mix.partner])
    return _guarded(session, state, logits, epoch, where, lr,
                    lambda: mixed_loss(session.loss_fn, logits, targets, partner_targets, mix.lam))


def checked_loss(session: Session, state: TrainingState, outputs: np.ndarray, labels: np.ndarray, epoch: int,
                 where: str, lr: float):
    """The loss of ``outputs``, or NonFiniteLossError (naming where, and the fix) when they or it are NaN/inf."""
    return _guarded(session, state, outputs, epoch, where, lr,
                    lambda: session.loss_fn(outputs, session.targets(labels)))


def _guarded(session: Session, state: TrainingState, outputs: np.ndarray, epoch: int, where: str, lr: float,
             compute: Callable):
    """``compute()`` when ``outputs`` are finite and the loss is, else NonFiniteLossError naming where and the fix."""
    try:
        if np.isfinite(outputs).all():
            return compute()
    except nn.LossNotFiniteError:
        pass
    raise NonFiniteLossError(
        f"the loss became NaN or infinite in epoch {epoch}, {where}: training diverged and stopped. "
        f"{session.run_dir / CHECKPOINT} keeps the last good state (after epoch {state.epoch}). "
        f"Try a lower learning rate, e.g. --lr {lr / 10:g} (now {lr:g})")


def end_epoch(session: Session, state: TrainingState, row: dict) -> None:
    """Track the best epoch, step the schedule, save checkpoint and history, print the epoch's line."""
    config, model = session.config, session.model
    improved = row["val_loss"] < state.best_val_loss
    if improved:
        state.best_epoch, state.best_val_loss = row["epoch"], row["val_loss"]
        state.best_model = session.evaluated_state()
        state.epochs_without_improvement = 0
    else:
        state.epochs_without_improvement += 1
    patience = config.early_stopping_patience
    state.stopped_early = patience is not None and state.epochs_without_improvement >= patience
    when = steps_when(config.schedule)
    if when == "epoch":
        session.scheduler.step()
    elif when == "metric":
        session.scheduler.step(row["val_loss"])
    state.history.append(row)
    state.model = model.state_dict()
    if session.ema is not None:
        state.ema, state.ema_updates = session.evaluated_state(), session.ema.updates
    state.optimizer = session.optimizer.state_dict()
    state.scheduler = session.scheduler_state()
    state.rng = default_generator().bit_generator.state
    state.epoch = row["epoch"]
    save_checkpoint(session.run_dir / CHECKPOINT, state)
    write_history(session.run_dir / HISTORY, state.history)
    left = run_seconds_left([r["seconds"] for r in state.history], config.epochs - row["epoch"])
    session.say(f"epoch {row['epoch']:>{len(str(config.epochs))}}/{config.epochs}  "
                f"train loss {row['train_loss']:.4f} acc {row['train_accuracy']:.2%}  "
                f"val loss {row['val_loss']:.4f} acc {row['val_accuracy']:.2%}  "
                f"lr {row['lr']:.3g}  {row['seconds']:.1f}s" + (paint("  *best", "green") if improved else "")
                + (f"  (run: about {format_duration(left)} left)" if left and not state.stopped_early else ""))


def write_history(path: Path, history: list[dict]) -> None:
    with atomic_file(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=HISTORY_COLUMNS)
        writer.writeheader()
        writer.writerows(history)


def describe(session: Session, budgeting: bool = False) -> str:
    """The line printed before the first epoch: model, data sizes, length (``budgeting``: the epochs
    are yet to be planned from the time budget), loss, optimiser, features, run directory."""
    config, model = session.config, session.model
    batch = "full" if config.batch_size == "full" else session.batches.batch_size
    length = (f"as many epochs as fit in {format_duration(config.time_budget)}" if budgeting
              else plural(config.epochs, "epoch"))
    return (f"training {config.model} ({model.num_parameters():,} parameters) on {config.dataset}: "
            f"{len(session.batches.x):,} train / {len(session.y_val):,} validation / {len(session.y_test):,} test "
            f"images; {length} of {session.loss_name} loss, {config.optimizer} lr {config.lr:g}, "
            f"batch {batch}{_extras(config)}; run directory {session.run_dir}")


def _extras(config) -> str:
    """The training features a run uses beyond the basics, for the first line: ", onecycle schedule, ..."."""
    extras = [f"{config.schedule} schedule" if config.schedule != "none" else "",
              f"augment {config.augment}" if config.augment != "none" else "",
              f"EMA {config.ema_decay:g}" if config.ema_decay else "",
              f"gradients clipped to norm {config.clip_grad_norm:g}" if config.clip_grad_norm else "",
              "mirror TTA" if config.tta else "",
              f"recipe {config.recipe}" if config.recipe else ""]
    return "".join(f", {extra}" for extra in extras if extra)
