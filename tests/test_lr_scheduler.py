"""scratchnet.optim.lr_scheduler against torch.optim.lr_scheduler: identical learning rates per epoch."""
import json

import numpy as np
import pytest
import torch

import scratchnet.optim as optim
from scratchnet.nn import Parameter
from scratchnet.optim import lr_scheduler

SCHEDULES = [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("StepLR", dict(step_size=7)),
    ("CosineAnnealingLR", dict(T_max=10)),  # 25 epochs pass the minimum and the 0/0 case at epoch 11
    ("CosineAnnealingLR", dict(T_max=6, eta_min=0.001)),
    ("CosineAnnealingLR", dict(T_max=1, eta_min=0.01)),
]
LRS = (0.1, 0.03)


def schedule_id(schedule):
    name, kwargs = schedule
    return name + "(" + ",".join(f"{k}={v}" for k, v in kwargs.items()) + ")"


def two_group_optimizers():
    ours = optim.SGD([{"params": [Parameter(np.zeros(1))], "lr": lr} for lr in LRS], momentum=0.9)
    theirs = torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in LRS], momentum=0.9)
    return ours, theirs


@pytest.mark.parametrize("schedule", SCHEDULES, ids=schedule_id)
def test_learning_rates_equal_torch_for_25_epochs(schedule):
    name, kwargs = schedule
    opt, torch_opt = two_group_optimizers()
    scheduler = getattr(lr_scheduler, name)(opt, **kwargs)
    torch_scheduler = getattr(torch.optim.lr_scheduler, name)(torch_opt, **kwargs)
    for epoch in range(25):
        assert scheduler.last_epoch == torch_scheduler.last_epoch == epoch
        assert scheduler.get_last_lr() == torch_scheduler.get_last_lr()
        assert [g["lr"] for g in opt.param_groups] == scheduler.get_last_lr()
        torch_opt.step()
        scheduler.step()
        torch_scheduler.step()


@pytest.mark.parametrize("schedule", SCHEDULES[::2], ids=schedule_id)
def test_resuming_from_last_epoch_equals_torch(schedule):
    name, kwargs = schedule
    opt, torch_opt = two_group_optimizers()
    for group in opt.param_groups + torch_opt.param_groups:
        group["initial_lr"] = group["lr"]
    scheduler = getattr(lr_scheduler, name)(opt, last_epoch=4, **kwargs)
    torch_scheduler = getattr(torch.optim.lr_scheduler, name)(torch_opt, last_epoch=4, **kwargs)
    for _ in range(8):
        assert scheduler.get_last_lr() == torch_scheduler.get_last_lr()
        torch_opt.step()
        scheduler.step()
        torch_scheduler.step()


def test_resuming_without_initial_lr_raises():
    opt, _ = two_group_optimizers()
    with pytest.raises(ValueError, match="no 'initial_lr'"):
        lr_scheduler.StepLR(opt, step_size=2, last_epoch=3)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=schedule_id)
def test_state_dict_round_trip_through_json_continues_identically(schedule):
    name, kwargs = schedule
    opt, _ = two_group_optimizers()
    scheduler = getattr(lr_scheduler, name)(opt, **kwargs)
    for _ in range(5):
        scheduler.step()
    saved_opt = json.loads(json.dumps(opt.state_dict()))
    saved_scheduler = json.loads(json.dumps(scheduler.state_dict()))
    resumed_opt, _ = two_group_optimizers()
    resumed = getattr(lr_scheduler, name)(resumed_opt, **kwargs)
    resumed_opt.load_state_dict(saved_opt)
    resumed.load_state_dict(saved_scheduler)
    for _ in range(15):
        scheduler.step()
        resumed.step()
        assert resumed.get_last_lr() == scheduler.get_last_lr()
        assert resumed.last_epoch == scheduler.last_epoch
    assert [g["lr"] for g in resumed_opt.param_groups] == [g["lr"] for g in opt.param_groups]


def test_load_state_dict_rejects_another_scheduler_or_group_count():
    opt, _ = two_group_optimizers()
    step = lr_scheduler.StepLR(opt, step_size=2)
    with pytest.raises(ValueError, match="different scheduler"):
        step.load_state_dict(lr_scheduler.CosineAnnealingLR(two_group_optimizers()[0], T_max=3).state_dict())
    one_group = lr_scheduler.StepLR(optim.SGD([Parameter(np.zeros(1))], lr=0.1), step_size=2)
    with pytest.raises(ValueError, match="2 learning rates but the optimizer has 1"):
        one_group.load_state_dict(step.state_dict())


def test_get_last_lr_is_a_copy():
    opt, _ = two_group_optimizers()
    scheduler = lr_scheduler.StepLR(opt, step_size=1)
    scheduler.get_last_lr()[0] = 99.0
    assert scheduler.get_last_lr() == list(LRS)


def test_exported_from_optim():
    assert optim.StepLR is lr_scheduler.StepLR
    assert optim.CosineAnnealingLR is lr_scheduler.CosineAnnealingLR
    assert optim.LRScheduler is lr_scheduler.LRScheduler


@pytest.mark.parametrize(
    "name, kwargs, message",
    [
        ("StepLR", dict(step_size=0), "StepLR: step_size must be a positive integer, got 0"),
        ("StepLR", dict(step_size=2.5), "step_size must be a positive integer, got 2.5"),
        ("StepLR", dict(step_size=2, gamma=0), "StepLR: gamma must be a number in (0, inf), got 0"),
        ("CosineAnnealingLR", dict(T_max=0), "T_max must be a positive integer, got 0"),
        ("CosineAnnealingLR", dict(T_max=5, eta_min=-1.0), "eta_min must be a number in [0, inf), got -1.0"),
    ],
)
def test_bad_arguments_raise(name, kwargs, message):
    opt, _ = two_group_optimizers()
    with pytest.raises(ValueError) as info:
        getattr(lr_scheduler, name)(opt, **kwargs)
    assert message in str(info.value)


def test_needs_an_optimizer():
    with pytest.raises(TypeError, match="needs a scratchnet Optimizer"):
        lr_scheduler.StepLR(torch.optim.SGD([torch.zeros(1, requires_grad=True)]), step_size=1)
