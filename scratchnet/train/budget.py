"""A time budget for training (``TrainConfig.time_budget``, ``scratchnet train --time-budget 30m``).

The first epoch is timed (training and validation); the run then trains for
n = max(1, ⌊budget / first epoch's seconds⌋) epochs in all, and a schedule laid out over the
run's length (cosine, warmup-cosine, onecycle) is laid out again over those n epochs, continuing
from the steps already taken. After every later epoch the plan is checked against the average
epoch so far: when the remaining epochs would overrun the budget (the machine got busier) or
leave it partly unused (the first epoch was slow), n becomes the number of epochs that fit at
that average and the schedule is laid out again.
``epochs`` in config.json becomes n and metrics.json records the budget, the first epoch's time
and n. The test evaluation after the last epoch is not counted. A budget shorter than one epoch stops the first epoch as soon as it runs out and
says how long an epoch takes.
"""
from __future__ import annotations

import re

from ..terminal import format_duration
from .config import ConfigError

_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?")


class TimeBudgetError(ConfigError):
    """The time budget is too short for one epoch (the message says how long one takes)."""


def parse_duration(text: str) -> float:
    """Seconds in "30m", "1h30m", "90s", "90" or "2.5m"; ValueError naming the accepted forms."""
    match = _DURATION.fullmatch(text.strip().lower())
    if not text.strip() or match is None or not any(match.groups()):
        raise ValueError(f"expected a duration such as 30m, 1h30m, 90s or 90 (seconds), got {text!r}")
    seconds = sum(float(value) * unit for value, unit in zip(match.groups(), _UNITS.values()) if value)
    if seconds <= 0:
        raise ValueError(f"a time budget must be longer than 0 seconds, got {text!r}")
    return seconds


def check_first_epoch(elapsed: float, batches_done: int, total_batches: int, budget: float, run_dir) -> None:
    """Raise TimeBudgetError once the first epoch has used up ``budget``, estimating a whole epoch's time."""
    if elapsed <= budget:
        return
    epoch = elapsed / batches_done * total_batches
    raise TimeBudgetError(
        f"the time budget of {format_duration(budget)} is shorter than one epoch: {batches_done} of "
        f"{total_batches} batches took {format_duration(elapsed)}, so one epoch takes about "
        f"{format_duration(epoch)} here. Give --time-budget {max(1, round(epoch * 1.2 / 60))}m or more, or train "
        f"on fewer images (--train-subset); {run_dir} holds no trained epoch (remove it or choose another --out)")


def planned_epochs(budget: float, epochs_done: int, seconds_spent: float) -> int:
    """How many epochs in all fit in ``budget`` at the average speed of the ``epochs_done`` so far
    (which took ``seconds_spent``): at least those already done."""
    return max(epochs_done, int(budget // max(seconds_spent / epochs_done, 1e-9)))
