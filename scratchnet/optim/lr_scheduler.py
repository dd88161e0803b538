"""Learning-rate schedules (``torch.optim.lr_scheduler``): they rewrite ``group["lr"]`` once per ``step()``.

Call ``scheduler.step()`` after ``optimizer.step()``, usually once per epoch. The values follow
torch 2.13 exactly, including CosineAnnealingLR's recursive form (which accumulates rounding
differently from the closed form, and keeps following the cosine beyond ``T_max``).
"""
from __future__ import annotations

import math
import numbers
from typing import Any

from .optimizer import Optimizer, check_hyperparameter


class LRScheduler:
    """Base class: subclasses implement ``get_lr()``, the lrs for epoch ``self.last_epoch``.

    Construction records each group's ``initial_lr`` (``base_lrs``) and performs the first
    step, to epoch 0. ``last_epoch`` ≥ 0 resumes a schedule whose groups already carry
    ``initial_lr``; prefer ``load_state_dict`` for resuming.
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__} needs a scratchnet Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        elif any("initial_lr" not in group for group in optimizer.param_groups):
            raise ValueError(
                f"{type(self).__name__}: last_epoch={last_epoch} resumes a schedule, but the optimizer's param "
                "groups have no 'initial_lr'; load the optimizer's state_dict first, or use last_epoch=-1"
            )
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._is_initial = True
        self.step()
        self._is_initial = False

    def get_lr(self) -> list[float]:
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch and write the new learning rates into the optimizer's groups."""
        self._step_count += 1
        self.last_epoch += 1
        groups = self.optimizer.param_groups
        for group, lr in zip(groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in groups]

    def get_last_lr(self) -> list[float]:
        """The learning rates the last ``step()`` set, one per param group."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer, as plain Python scalars and lists."""
        return {k: list(v) if isinstance(v, list) else v for k, v in vars(self).items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what ``state_dict()`` returned for a scheduler of the same kind and number of groups."""
        own = self.state_dict()
        if set(state_dict) != set(own):
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: expected keys {sorted(own)}, got {sorted(state_dict)}; "
                "was it saved by a different scheduler?"
            )
        if len(state_dict["base_lrs"]) != len(self.optimizer.param_groups):
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: the state has {len(state_dict['base_lrs'])} learning "
                f"rates but the optimizer has {len(self.optimizer.param_groups)} param groups"
            )
        self.__dict__.update({k: list(v) if isinstance(v, list) else v for k, v in state_dict.items()})


class StepLR(LRScheduler):
    """Multiply each group's lr by ``gamma`` every ``step_size`` epochs: lr = base_lr · γ^⌊epoch / step_size⌋."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        if not isinstance(step_size, numbers.Integral) or step_size < 1:
            raise ValueError(f"StepLR: step_size must be a positive integer, got {step_size!r}")
        check_hyperparameter("StepLR", "gamma", gamma, 0, low_open=True)
        self.step_size = int(step_size)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return [group["lr"] for group in groups]
        return [group["lr"] * self.gamma for group in groups]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from base_lr down to ``eta_min`` over ``T_max`` epochs (no restarts).

    Closed form: lr_t = eta_min + (base_lr − eta_min) · (1 + cos(π t / T_max)) / 2. Like torch,
    each lr is computed recursively from the previous one,

        lr_t = eta_min + (lr_{t−1} − eta_min) · (1 + cos(π t / T_max)) / (1 + cos(π (t−1) / T_max)),

    except where that ratio is 0/0 (t − 1 − T_max a multiple of 2 T_max), which adds the step instead.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        if not isinstance(T_max, numbers.Integral) or T_max < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be a positive integer, got {T_max!r}")
        check_hyperparameter("CosineAnnealingLR", "eta_min", eta_min, 0)
        self.T_max = int(T_max)
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups, epoch, t_max, eta_min = self.optimizer.param_groups, self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return [group["lr"] for group in groups]
        if (epoch - 1 - t_max) % (2 * t_max) == 0:
            return [
                group["lr"] + (base_lr - eta_min) * (1 - math.cos(math.pi / t_max)) / 2
                for base_lr, group in zip(self.base_lrs, groups)
            ]
        ratio_num = 1 + math.cos(math.pi * epoch / t_max)
        ratio_den = 1 + math.cos(math.pi * (epoch - 1) / t_max)
        return [ratio_num / ratio_den * (group["lr"] - eta_min) + eta_min for group in groups]
