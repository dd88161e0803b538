"""The learning-rate schedule registry: every name ``schedule`` accepts, mapped to its class and settings.

Config validation, the trainer (``make_scheduler``), the help of ``scratchnet train --schedule``
and report.html read this one table. An entry says when its scheduler steps (``per``:
"epoch", once per optimiser "step", or "metric": once per epoch given the validation loss), and
whether it is laid out over the run's length (``planned``: changing the number of epochs would
change the epochs already trained; a time budget lays it out over the epochs that fit).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import optim

NONE = "none"


@dataclass(frozen=True)
class Plan:
    """The length a schedule is laid out over: ``epochs`` of ``steps_per_epoch`` optimiser steps."""

    epochs: int
    steps_per_epoch: int


@dataclass(frozen=True)
class ScheduleEntry:
    """``cls``: the scheduler class; ``label``: how the report names it; ``settings``: the TrainConfig
    fields it reads; ``per``: "epoch" or "step"; ``planned``: laid out over the run's length;
    ``make(config, optimizer, plan)``: the scheduler; ``help``: one line for --help."""

    cls: type
    label: str
    settings: tuple[str, ...]
    per: str
    planned: bool
    make: Callable
    help: str


SCHEDULES: dict[str, ScheduleEntry] = {
    "step": ScheduleEntry(
        optim.StepLR, "step decay", ("step_size", "gamma"), "epoch", False,
        lambda c, opt, plan: optim.StepLR(opt, step_size=c.step_size, gamma=c.gamma),
        "multiply the rate by --gamma every --step-size epochs"),
    "cosine": ScheduleEntry(
        optim.CosineAnnealingLR, "cosine annealing", ("min_lr",), "epoch", True,
        lambda c, opt, plan: optim.CosineAnnealingLR(opt, T_max=plan.epochs, eta_min=c.min_lr),
        "anneal the rate to --min-lr over the epochs"),
    "warmup-cosine": ScheduleEntry(
        optim.SequentialLR, "linear warm-up, then cosine annealing (per step)", ("warmup_epochs", "min_lr"), "step",
        True, lambda c, opt, plan: _warmup_cosine(opt, plan, c.warmup_epochs, c.min_lr),
        "rise linearly from lr/10 over --warmup-epochs, then anneal to --min-lr, every step"),
    "onecycle": ScheduleEntry(
        optim.OneCycleLR, "one-cycle (per step)", ("pct_start",), "step", True,
        lambda c, opt, plan: _one_cycle(opt, plan, c.lr, c.pct_start, _cycles_momentum(c, opt)),
        "rise from lr/25 to --lr over the first --pct-start of the steps, then anneal to lr/250000"),
    "plateau": ScheduleEntry(
        optim.ReduceLROnPlateau, "reduce on plateau of the validation loss", ("gamma", "plateau_patience", "min_lr"),
        "metric", False,
        lambda c, opt, plan: optim.ReduceLROnPlateau(opt, factor=c.gamma, patience=c.plateau_patience,
                                                     min_lr=c.min_lr),
        "multiply the rate by --gamma after --plateau-patience epochs without a better validation loss"),
}
SCHEDULE_CHOICES = (NONE, *SCHEDULES)


def _warmup_cosine(opt: optim.Optimizer, plan: Plan, warmup_epochs: int, min_lr: float) -> optim.SequentialLR:
    """LinearLR from lr/10 over the warm-up's steps, then CosineAnnealingLR to ``min_lr`` over the rest."""
    total = plan.epochs * plan.steps_per_epoch
    warmup = min(warmup_epochs * plan.steps_per_epoch, total - 1)
    pieces = [optim.LinearLR(opt, start_factor=0.1, total_iters=warmup)] if warmup else []
    pieces.append(optim.CosineAnnealingLR(opt, T_max=total - warmup, eta_min=min_lr))
    return optim.SequentialLR(opt, pieces, milestones=[warmup] if warmup else [])


def _one_cycle(opt: optim.Optimizer, plan: Plan, max_lr: float, pct_start: float, cycle_momentum: bool
               ) -> optim.OneCycleLR:
    """OneCycleLR over every step of the plan; a rise shorter than 2 steps (tiny runs) is stretched to 2."""
    total = plan.epochs * plan.steps_per_epoch
    if total < 3:
        raise ValueError(f"the onecycle schedule needs at least 3 optimiser steps, and this run has {total} "
                         f"({plan.epochs} epochs of {plan.steps_per_epoch} batches); train longer or use another "
                         "--schedule")
    return optim.OneCycleLR(opt, max_lr=max_lr, total_steps=total, pct_start=float(max(pct_start, 2 / total)),
                            cycle_momentum=cycle_momentum)


def _cycles_momentum(config, opt: optim.Optimizer) -> bool:
    """One-cycle moves Adam's β₁, and SGD's or RMSprop's momentum when the run uses momentum."""
    return "betas" in opt.defaults or ("momentum" in opt.defaults and config.momentum > 0)


def schedule_label(name: str) -> str:
    """How the report names schedule ``name``, or ``name`` if unknown (or "none")."""
    entry = SCHEDULES.get(name)
    return entry.label if entry else name


def make_scheduler(config, optimizer: optim.Optimizer, plan: Plan) -> optim.LRScheduler | None:
    """The scheduler ``config.schedule`` names, laid out over ``plan``; None for "none"."""
    if config.schedule == NONE:
        return None
    return SCHEDULES[config.schedule].make(config, optimizer, plan)


def rates_per_step(config, steps_per_epoch: int) -> list[float] | None:
    """The learning rate of every optimiser step of a run with ``config`` (``config.epochs`` epochs of
    ``steps_per_epoch`` steps), replayed on a one-parameter optimiser; None for "none" and for
    schedules that depend on the validation loss ("plateau")."""
    when = steps_when(config.schedule)
    if when not in ("epoch", "step"):
        return None
    from ..nn import Parameter  # the replay's stand-in parameter
    from .optimizers import make_optimizer

    optimizer = make_optimizer(config, [Parameter(np.zeros(1, np.float32))])
    scheduler = make_scheduler(config, optimizer, Plan(config.epochs, steps_per_epoch))
    rates = []
    for step in range(config.epochs * steps_per_epoch):
        rates.append(optimizer.param_groups[0]["lr"])
        if when == "step" or (step + 1) % steps_per_epoch == 0:
            scheduler.step()
    return rates


def steps_when(name: str) -> str | None:
    """When schedule ``name`` steps: "epoch", "step", "metric" (per epoch, given the validation loss); None: never."""
    entry = SCHEDULES.get(name)
    return entry.per if entry else None


def is_planned(name: str) -> bool:
    """Whether schedule ``name`` is laid out over the run's number of epochs."""
    entry = SCHEDULES.get(name)
    return entry is not None and entry.planned
