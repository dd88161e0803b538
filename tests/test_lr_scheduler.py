"""scratchnet.optim.lr_scheduler against torch.optim.lr_scheduler: identical learning rates per epoch or step."""
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
    ("LinearLR", dict(start_factor=0.1, total_iters=4)),
    ("LinearLR", dict()),
    ("LinearLR", dict(start_factor=1.0, end_factor=0.25, total_iters=10)),
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


def adam_pair(lr=0.01):
    ours = optim.Adam([{"params": [Parameter(np.zeros(1))], "lr": lr} for _ in range(2)])
    theirs = torch.optim.Adam([{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for _ in range(2)])
    return ours, theirs


def momenta(optimizer):
    return [g["betas"][0] if "betas" in g else g["momentum"] for g in optimizer.param_groups]


@pytest.mark.parametrize("kwargs", [
    dict(max_lr=0.1, total_steps=37),
    dict(max_lr=[0.1, 0.05], epochs=4, steps_per_epoch=9, pct_start=0.25, anneal_strategy="linear"),
    dict(max_lr=0.2, total_steps=30, three_phase=True, div_factor=10.0, final_div_factor=100.0),
    dict(max_lr=0.1, total_steps=20, cycle_momentum=False),
], ids=["cos", "linear-per-group", "three-phase", "no-momentum"])
@pytest.mark.parametrize("pair", [two_group_optimizers, adam_pair], ids=["sgd", "adam"])
def test_one_cycle_lr_and_momentum_equal_torch_at_every_step(kwargs, pair):
    opt, torch_opt = pair()
    scheduler = lr_scheduler.OneCycleLR(opt, **kwargs)
    torch_scheduler = torch.optim.lr_scheduler.OneCycleLR(torch_opt, **kwargs)
    total = kwargs.get("total_steps") or kwargs["epochs"] * kwargs["steps_per_epoch"]
    for _ in range(total - 1):
        assert scheduler.get_last_lr() == torch_scheduler.get_last_lr()
        assert momenta(opt) == momenta(torch_opt)
        torch_opt.step()
        scheduler.step()
        torch_scheduler.step()
    assert scheduler.get_last_lr() == torch_scheduler.get_last_lr()
    with pytest.raises(ValueError, match="stepped 38 times, but total_steps is 37"):
        lr_scheduler.OneCycleLR(pair()[0], max_lr=0.1, total_steps=37, last_epoch=-1)._update_lr(38)


def sequential(module, opt):
    warmup = module.LinearLR(opt, start_factor=0.1, total_iters=3)
    step = module.StepLR(opt, step_size=2, gamma=0.5)
    cosine = module.CosineAnnealingLR(opt, T_max=8, eta_min=0.001)
    return module.SequentialLR(opt, [warmup, step, cosine], milestones=[3, 7])


def test_sequential_lr_warm_up_then_step_then_cosine_equals_torch():
    opt, torch_opt = two_group_optimizers()
    scheduler, torch_scheduler = sequential(lr_scheduler, opt), sequential(torch.optim.lr_scheduler, torch_opt)
    for epoch in range(20):
        assert scheduler.last_epoch == torch_scheduler.last_epoch == epoch
        assert scheduler.get_last_lr() == torch_scheduler.get_last_lr()
        assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in torch_opt.param_groups]
        torch_opt.step()
        scheduler.step()
        torch_scheduler.step()


def test_sequential_lr_state_dict_round_trip_through_json_continues_identically():
    opt, _ = two_group_optimizers()
    scheduler = sequential(lr_scheduler, opt)
    for _ in range(5):
        scheduler.step()
    saved_opt, saved = json.loads(json.dumps(opt.state_dict())), json.loads(json.dumps(scheduler.state_dict()))
    resumed_opt, _ = two_group_optimizers()
    resumed = sequential(lr_scheduler, resumed_opt)
    resumed_opt.load_state_dict(saved_opt)
    resumed.load_state_dict(saved)
    for _ in range(10):
        scheduler.step()
        resumed.step()
        assert resumed.get_last_lr() == scheduler.get_last_lr()


def test_sequential_lr_refuses_mismatched_pieces():
    opt, _ = two_group_optimizers()
    other, _ = two_group_optimizers()
    with pytest.raises(ValueError, match="one milestone fewer than schedulers"):
        lr_scheduler.SequentialLR(opt, [lr_scheduler.LinearLR(opt), lr_scheduler.StepLR(opt, 2)], milestones=[])
    with pytest.raises(ValueError, match="scheduler 1 .StepLR. belongs to another optimizer"):
        lr_scheduler.SequentialLR(opt, [lr_scheduler.LinearLR(opt), lr_scheduler.StepLR(other, 2)], milestones=[2])
    with pytest.raises(ValueError, match="not ReduceLROnPlateau"):
        lr_scheduler.SequentialLR(opt, [lr_scheduler.LinearLR(opt), lr_scheduler.ReduceLROnPlateau(opt)], [2])


METRICS = [1.0, 0.9, 0.95, 0.9, 0.91, 0.92, 0.5, 0.5, 0.6, 0.7, 0.8, 0.9, 0.49, 0.2, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3]


@pytest.mark.parametrize("kwargs", [
    dict(patience=1),
    dict(patience=2, factor=0.5, cooldown=2, min_lr=0.02),
    dict(mode="max", patience=0, threshold=0.1, threshold_mode="abs", min_lr=[0.001, 0.01]),
    dict(patience=0, factor=0.9, eps=0.005),  # the second group's 0.003 steps are below eps
], ids=["patience1", "cooldown-min-lr", "max-abs", "eps"])
def test_reduce_lr_on_plateau_equals_torch(kwargs):
    opt, torch_opt = two_group_optimizers()
    scheduler = lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    torch_scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(torch_opt, **kwargs)
    for metric in METRICS:
        torch_opt.step()
        scheduler.step(metric)
        torch_scheduler.step(metric)
        assert scheduler.get_last_lr() == torch_scheduler.get_last_lr()
        assert (scheduler.num_bad_epochs, scheduler.best) == (torch_scheduler.num_bad_epochs, torch_scheduler.best)
    assert scheduler.get_last_lr() != list(LRS)  # the sequence did reduce it


def test_reduce_lr_on_plateau_state_survives_json():
    opt, _ = two_group_optimizers()
    scheduler = lr_scheduler.ReduceLROnPlateau(opt, patience=1)
    fresh = lr_scheduler.ReduceLROnPlateau(two_group_optimizers()[0], patience=1)
    fresh.load_state_dict(json.loads(json.dumps(scheduler.state_dict())))
    assert fresh.best == scheduler.best == float("inf")
    for metric in METRICS[:6]:
        scheduler.step(metric)
    fresh.load_state_dict(json.loads(json.dumps(scheduler.state_dict())))
    assert (fresh.best, fresh.num_bad_epochs, fresh.last_epoch) == (scheduler.best, scheduler.num_bad_epochs, 6)


@pytest.mark.parametrize("build, message", [
    (lambda opt: lr_scheduler.LinearLR(opt, start_factor=0), "LinearLR: start_factor must be a number in (0, 1]"),
    (lambda opt: lr_scheduler.LinearLR(opt, total_iters=0), "total_iters must be a positive integer"),
    (lambda opt: lr_scheduler.OneCycleLR(opt, max_lr=0.1), "needs total_steps, or epochs and steps_per_epoch"),
    (lambda opt: lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=10, pct_start=1), "pct_start must be a float"),
    (lambda opt: lr_scheduler.OneCycleLR(opt, max_lr=[0.1], total_steps=10), "expected 2 values for max_lr"),
    (lambda opt: lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=4, pct_start=0.25), "shorter than 2 steps"),
    (lambda opt: lr_scheduler.ReduceLROnPlateau(opt, factor=1.0), "factor must be a number in (0, 1)"),
    (lambda opt: lr_scheduler.ReduceLROnPlateau(opt, mode="up"), "mode must be 'min' or 'max'"),
])
def test_bad_arguments_of_the_new_schedules_raise(build, message):
    with pytest.raises(ValueError) as info:
        build(two_group_optimizers()[0])
    assert message in str(info.value)


def test_one_cycle_needs_momentum_to_cycle_it():
    adagrad = optim.Adagrad([Parameter(np.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="pass cycle_momentum=False"):
        lr_scheduler.OneCycleLR(adagrad, max_lr=0.1, total_steps=5)
    assert lr_scheduler.OneCycleLR(adagrad, max_lr=0.1, total_steps=5, cycle_momentum=False).get_last_lr() == pytest.approx([0.004])
