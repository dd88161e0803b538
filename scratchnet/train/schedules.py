"""The learning-rate schedule registry: every name ``schedule`` accepts, mapped to its class and settings.

Config validation, the trainer (``make_scheduler``), the help of ``scratchnet train --schedule``
and report.html read this one table. An entry says whether its scheduler steps once per
epoch or once per optimiser step (``per``), and whether it is laid out over the run's length
(``planned``: changing the number of epochs would change the epochs already trained).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

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
}
SCHEDULE_CHOICES = (NONE, *SCHEDULES)


def schedule_label(name: str) -> str:
    """How the report names schedule ``name``, or ``name`` if unknown (or "none")."""
    entry = SCHEDULES.get(name)
    return entry.label if entry else name


def make_scheduler(config, optimizer: optim.Optimizer, plan: Plan) -> optim.LRScheduler | None:
    """The scheduler ``config.schedule`` names, laid out over ``plan``; None for "none"."""
    if config.schedule == NONE:
        return None
    return SCHEDULES[config.schedule].make(config, optimizer, plan)


def steps_per_epoch(name: str) -> bool:
    """Whether schedule ``name`` steps after every optimiser step (else once per epoch)."""
    entry = SCHEDULES.get(name)
    return entry is not None and entry.per == "step"


def is_planned(name: str) -> bool:
    """Whether schedule ``name`` is laid out over the run's number of epochs."""
    entry = SCHEDULES.get(name)
    return entry is not None and entry.planned
