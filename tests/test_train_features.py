"""Issue 15's training features inside fit: per-step schedules, batch mixes, EMA, TTA, decay groups, time budget."""
from __future__ import annotations

import json
import math
import types

import numpy as np
import pytest
from test_train_fit import SMALL_CNN, mnist  # the same quick MNIST runs

from scratchnet import nn, optim
from scratchnet.data import Preprocess
from scratchnet.train import ConfigError, TrainConfig, budget, fit, load_model, loop, resume, schedules, trainer
from scratchnet.train.checkpoint import load_checkpoint
from scratchnet.train.ema import WeightAverage
from scratchnet.train.evaluation import model_outputs
from scratchnet.train.optimizers import param_groups

def test_onecycle_steps_every_batch_and_the_history_records_each_epochs_first_rate(tmp_path):
    result = fit(mnist(tmp_path, optimizer="sgd", momentum=0.9, lr=0.1, schedule="onecycle", epochs=3), quiet=True)
    reference = optim.OneCycleLR(optim.SGD([nn.Parameter(np.zeros(1))], lr=0.1, momentum=0.9), max_lr=0.1,
                                 total_steps=12, pct_start=0.25)
    expected = []
    for step in range(12):
        if step % 4 == 0:
            expected.append(reference.get_last_lr()[0])
        reference.step()
    assert [row["lr"] for row in result.history] == expected
    replayed = schedules.rates_per_step(result.config, result.metrics["steps_per_epoch"])
    assert len(replayed) == 12 and replayed[::4] == expected  # what the report's lr.png draws
    assert schedules.rates_per_step(TrainConfig(schedule="plateau"), 4) is None


def test_plateau_schedule_lowers_the_rate_when_validation_stops_improving(tmp_path):
    overfit = dict(train_subset=90, val_size=30, batch_size=10, lr=0.01, epochs=12, schedule="plateau",
                   plateau_patience=1, gamma=0.5)
    result = fit(mnist(tmp_path, **overfit), quiet=True)
    rates, losses = [row["lr"] for row in result.history], [row["val_loss"] for row in result.history]
    assert rates[0] == 0.01 and min(rates) < 0.01
    first_drop = next(i for i, lr in enumerate(rates) if lr < 0.01)  # the epoch after two without improvement
    assert losses[first_drop - 1] >= min(losses[:first_drop - 1]) * (1 - 1e-4)


SETTINGS = dict(model="small.json", epochs=3, optimizer="adamw", lr=0.01, weight_decay=0.05, schedule="warmup-cosine",
                augment="affine+erase+cutmix", ema_decay=0.9, skip_decay_norm_bias=True, tta=True)


def test_every_feature_at_once_resumes_bit_for_bit(tmp_path):
    (tmp_path / "small.json").write_text(json.dumps(SMALL_CNN))
    settings = {**SETTINGS, "model": str(tmp_path / "small.json")}
    straight = fit(mnist(tmp_path, **settings, out=str(tmp_path / "straight")), quiet=True)

    def stop_after_first_epoch(row):
        if row["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(mnist(tmp_path, **settings, out=str(tmp_path / "cut")), quiet=True, on_epoch_end=stop_after_first_epoch)
    assert load_checkpoint(tmp_path / "cut" / "checkpoint.npz").ema is not None
    resumed = resume(tmp_path / "cut", quiet=True)
    assert [r["val_loss"] for r in resumed.history] == [r["val_loss"] for r in straight.history]
    assert [r["lr"] for r in resumed.history] == [r["lr"] for r in straight.history]
    assert resumed.metrics["test_loss"] == straight.metrics["test_loss"]
    assert straight.metrics["weights"] == "moving average" and straight.metrics["tta"] is True
    assert straight.history[0]["lr"] == pytest.approx(0.001)  # warm-up starts at lr / 10


def test_the_saved_model_holds_the_moving_average(tmp_path):
    result = fit(mnist(tmp_path, ema_decay=0.5, restore_best=False), quiet=True)
    state = load_checkpoint(tmp_path / "run" / "checkpoint.npz")
    saved = load_model(tmp_path / "run" / "model.npz").model.state_dict()
    for key in saved:
        np.testing.assert_array_equal(saved[key], state.ema[key])
    assert any(not np.array_equal(saved[k], state.model[k]) for k in saved)  # not the trained weights
    assert result.metrics["weights"] == "moving average"


def test_weight_average_follows_its_formula_and_copies_integer_buffers():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    average = WeightAverage(model, decay=0.5)
    start = model.state_dict()
    for p in model.parameters():
        p.data += 1.0
    model.train()
    model(np.ones((4, 2), np.float32))  # moves the running statistics, counts a batch
    average.update(model)  # d = min(0.5, 2 / 11)
    d = 2 / 11
    np.testing.assert_allclose(average.state["0.weight"], d * start["0.weight"] + (1 - d) * model[0].weight.data)
    assert average.state["1.num_batches_tracked"] == 1
    with average.applied(model):
        np.testing.assert_array_equal(model[0].weight.data, average.state["0.weight"])
    np.testing.assert_array_equal(model[0].weight.data, start["0.weight"] + 1)


def test_tta_averages_the_outputs_of_each_image_and_its_mirror_image():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    x = np.random.default_rng(0).integers(0, 256, size=(5, 1, 3, 4), dtype=np.uint8)
    prep = Preprocess("scale")
    both = (model_outputs(model, x, prep) + model_outputs(model, x[..., ::-1], prep)) / 2
    np.testing.assert_allclose(model_outputs(model, x, prep, tta=True), both, rtol=1e-6)


def test_weight_decay_skips_biases_and_normalisation_parameters():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 3))
    decayed, exempt = param_groups(model, skip_decay_norm_bias=True)
    assert [p.data.shape for p in decayed["params"]] == [(2, 1, 3, 3), (3, 8)]
    assert len(exempt["params"]) == 4 and exempt["weight_decay"] == 0.0
    assert param_groups(model) == list(model.parameters())


@pytest.mark.parametrize("text, seconds", [("30m", 1800), ("1h30m", 5400), ("90s", 90), ("45", 45), ("2.5m", 150)])
def test_durations(text, seconds):
    assert budget.parse_duration(text) == seconds


def test_bad_durations_say_what_is_accepted():
    for text in ("", "soon", "0m", "10 minutes"):
        with pytest.raises(ValueError, match="30m|longer than 0"):
            budget.parse_duration(text)


class Clock:
    """time.perf_counter stand-in: each reading is one second after the last."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self):
        self.now += 1.0
        return self.now


def test_time_budget_plans_the_epochs_and_the_schedule_from_the_first_epoch(tmp_path, monkeypatch):
    # Every epoch reads the loop's clock at its start and its end: each takes 1 s. The budget watch's
    # clock stands still. A 3.5 s budget is 3 epochs, planned after the first and kept after the others.
    monkeypatch.setattr(loop, "time", types.SimpleNamespace(perf_counter=Clock().perf_counter, strftime=lambda *a: "now"))
    monkeypatch.setattr(trainer, "time", types.SimpleNamespace(perf_counter=lambda: 0.0))
    result = fit(mnist(tmp_path, schedule="cosine", epochs=50, lr=0.01, time_budget=3.5), quiet=True)
    first = result.history[0]["seconds"]
    planned = int(3.5 // first)
    assert first == 1.0 and planned == 3
    assert len(result.history) == planned == result.metrics["time_budget"]["planned_epochs"]
    assert result.metrics["time_budget"] == {"budget_seconds": 3.5, "first_epoch_seconds": first,
                                             "planned_epochs": planned}
    assert json.loads((tmp_path / "run" / "config.json").read_text())["epochs"] == planned
    cosine = [0.01 * (1 + math.cos(math.pi * e / planned)) / 2 for e in range(planned)]
    assert [row["lr"] for row in result.history] == pytest.approx(cosine)


def test_a_budget_shorter_than_one_epoch_says_how_long_one_takes(tmp_path, monkeypatch):
    clock = types.SimpleNamespace(perf_counter=Clock().perf_counter)
    monkeypatch.setattr(trainer, "time", clock)
    with pytest.raises(ConfigError, match=r"shorter than one epoch: 1 of 4 batches took .*one epoch takes about"):
        fit(mnist(tmp_path, time_budget=0.5), quiet=True)


def test_gradient_clipping_bounds_every_step(tmp_path):
    from scratchnet import manual_seed, zoo
    from scratchnet.train import build_model

    settings = dict(optimizer="sgd", lr=0.1, epochs=1, restore_best=False)
    clipped = fit(mnist(tmp_path, **settings, clip_grad_norm=0.01), quiet=True).model.state_dict()
    free = fit(mnist(tmp_path, **settings, out=str(tmp_path / "free")), quiet=True).model.state_dict()
    manual_seed(0)
    start = build_model(zoo.spec("mlp2-32-16", (1, 28, 28), 10), (1, 28, 28), 10).state_dict()

    def moved(state):
        return math.sqrt(sum(float(np.sum((state[k] - start[k]) ** 2)) for k in start))
    assert moved(clipped) <= 4 * 0.1 * 0.01 * (1 + 1e-5)  # 4 steps of lr × at most the clipped norm
    assert moved(free) > 10 * moved(clipped)


def test_the_report_shows_the_augmented_samples_and_the_learning_rate(tmp_path):
    from scratchnet.report import write_report
    from scratchnet.report.training_plots import augmented_samples

    config = mnist(tmp_path, augment="affine+erase+mixup", schedule="onecycle", epochs=2)
    result = fit(config, quiet=True, report=write_report)
    page = result.report.read_text(encoding="utf-8")
    assert (tmp_path / "run" / "augmented.png").is_file() and (tmp_path / "run" / "lr.png").is_file()
    assert "What the network sees" in page and page.count("<img") == 6
    from scratchnet.data import load
    images = load("mnist", root=config.root, progress=False).x_test[:4]
    draws = augmented_samples(images, config)
    assert len(draws) == 3 and all(d.shape == images.shape and d.dtype == np.uint8 for d in draws)
    assert not any(np.array_equal(d, images) for d in draws)
    assert augmented_samples(images, mnist(tmp_path)) == []  # nothing to draw without augmentation


class ChangingClock(Clock):
    """Each reading is ``before`` seconds after the last for the first ``readings`` readings, then ``after``."""

    def __init__(self, readings: int, before: float, after: float):
        super().__init__()
        self.count, self.readings, self.before, self.after = 0, readings, before, after

    def perf_counter(self):
        self.count += 1
        self.now += self.before if self.count <= self.readings else self.after
        return self.now


def budgeted_run(tmp_path, monkeypatch, clock, budget):
    monkeypatch.setattr(loop, "time", types.SimpleNamespace(perf_counter=clock.perf_counter, strftime=lambda *a: "now"))
    monkeypatch.setattr(trainer, "time", types.SimpleNamespace(perf_counter=clock.perf_counter))
    return fit(mnist(tmp_path, schedule="cosine", epochs=50, lr=0.01, time_budget=budget), quiet=True)


def test_a_budgeted_run_that_slows_down_trains_fewer_epochs_and_keeps_to_its_budget(tmp_path, monkeypatch):
    # The first epoch runs at full speed, then the machine gets busy.
    result = budgeted_run(tmp_path, monkeypatch, ChangingClock(readings=8, before=1.0, after=12.0), budget=40.0)
    seconds = [row["seconds"] for row in result.history]
    first_plan = int(40.0 // seconds[0])
    assert seconds[1] > 2 * seconds[0]  # the clock did slow down
    assert 1 < len(result.history) < first_plan  # shrunk, not cut off at once
    # Each epoch started only while the average epoch so far still fitted in what was left.
    for done in range(1, len(result.history)):
        spent = sum(seconds[:done])
        assert 40.0 - spent >= spent / done
    assert sum(seconds) < 40.0 + seconds[-1] < first_plan * seconds[1]
    assert result.metrics["time_budget"]["planned_epochs"] == len(result.history) == \
        json.loads((tmp_path / "run" / "config.json").read_text())["epochs"]
    lrs = [row["lr"] for row in result.history]
    assert lrs == sorted(lrs, reverse=True) and lrs[-1] < 0.01  # the cosine still anneals over the shorter run


def test_a_budgeted_run_whose_first_epoch_was_slow_trains_more_epochs_within_its_budget(tmp_path, monkeypatch):
    # The first epoch is slow (say, caches and compiled kernels warming up), the later ones fast.
    result = budgeted_run(tmp_path, monkeypatch, ChangingClock(readings=8, before=6.0, after=1.0), budget=100.0)
    seconds = [row["seconds"] for row in result.history]
    first_plan = int(100.0 // seconds[0])
    assert seconds[1] < seconds[0] / 2 and len(result.history) > first_plan
    assert sum(seconds) < 100.0 + seconds[-1]
    assert result.metrics["time_budget"]["planned_epochs"] == len(result.history)
    lrs = [row["lr"] for row in result.history]
    assert lrs[-1] < lrs[0] / 2  # the cosine, laid out again over the longer run, still anneals
