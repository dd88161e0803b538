"""One registry per concept: an optimiser, schedule or loss added as one entry reaches config
validation, the trainer, `scratchnet train --help` and report.html; and train never imports report."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import run_python

from scratchnet import cli, nn, optim
from scratchnet.report import html
from scratchnet.train import TrainConfig, losses, optimizers, schedules


class Lion(optim.SGD):
    """A stand-in new optimiser: SGD under another name."""


def test_one_optimizer_entry_reaches_validation_trainer_help_and_report(monkeypatch, capsys):
    entry = optimizers.OptimizerEntry(Lion, "Lion", ("momentum",), "a new optimiser for this test")
    monkeypatch.setitem(optimizers.OPTIMIZERS, "lion", entry)
    config = TrainConfig(optimizer="lion", lr=0.5, momentum=0.25)
    config.validate()
    made = optimizers.make_optimizer(config, [nn.Parameter(np.zeros(2, np.float32))])
    assert type(made) is Lion and made.param_groups[0]["momentum"] == 0.25 and made.param_groups[0]["lr"] == 0.5
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    assert "lion: a new optimiser for this test" in " ".join(capsys.readouterr().out.split())
    setup = html.setup_section({"optimizer": "lion", "val_size": 0.1}, {}, "arch")
    assert "<dd>Lion</dd>" in setup


def test_unknown_names_are_refused_with_the_registry_names():
    for setting, registry in (("optimizer", optimizers.OPTIMIZERS), ("schedule", schedules.SCHEDULES),
                              ("loss", losses.LOSSES)):
        with pytest.raises(ValueError, match=f"{setting} must be one of .*{list(registry)[-1]}"):
            TrainConfig(**{setting: "nope"}).validate()


def test_losses_take_the_targets_their_entry_says():
    y = np.array([2, 0])
    assert losses.loss_targets("ce", y, 3) is y
    np.testing.assert_array_equal(losses.loss_targets("mse", y, 3), [[0, 0, 1], [1, 0, 0]])
    weighted = losses.make_loss("ce", ["a", "b", "c"], {"b": 2.0}, label_smoothing=0.1)
    np.testing.assert_array_equal(weighted.weight, [1, 2, 1])
    assert weighted.label_smoothing == 0.1
    assert losses.resolve_loss("auto", {"layers": [{"type": "Sigmoid"}]}) == "mse"
    assert losses.resolve_loss("auto", {"layers": [{"type": "Linear"}]}) == "ce"


def test_schedule_entries_build_their_scheduler_over_the_plan():
    opt = optim.SGD([nn.Parameter(np.zeros(1, np.float32))], lr=1.0)
    cosine = schedules.make_scheduler(TrainConfig(schedule="cosine", min_lr=0.1), opt, schedules.Plan(4, 10))
    assert isinstance(cosine, optim.CosineAnnealingLR) and cosine.T_max == 4 and cosine.eta_min == 0.1
    assert schedules.make_scheduler(TrainConfig(schedule="none"), opt, schedules.Plan(4, 10)) is None


def test_train_and_version_do_not_import_upwards():
    run_python(
        "import sys, scratchnet.train, scratchnet.version\n"
        "bad = [m for m in sys.modules if m.startswith(('scratchnet.report', 'scratchnet.experiments',"
        " 'scratchnet.commands', 'scratchnet.cli', 'matplotlib'))]\n"
        "assert not bad, bad\n"
    )
