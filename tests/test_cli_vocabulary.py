"""One vocabulary: TrainConfig fields and `scratchnet train` flags through one mapping
(scratchnet.train.flags), used by the train command, the report's command and error messages."""
import json
import re
from html import unescape

import pytest
from conftest import dataset_dir

from scratchnet.cli import main
from scratchnet.train import flags
from scratchnet.train.config import TrainConfig


@pytest.mark.parametrize("spelling", ["val_size", "val-size", "--val-size"])
def test_every_spelling_of_a_setting_names_its_field(spelling):
    assert flags.field(spelling) == "val_size"


def test_renamed_flags_map_both_ways():
    assert flags.field("early-stopping") == "early_stopping_patience" and flags.field("class-weight") == "class_weights"
    assert flags.flag("early_stopping_patience") == "--early-stopping" and flags.flag("train_subset") == "--train-subset"
    assert flags.field("no-such-thing") == "no-such-thing"  # left for the config's own check


def test_every_config_field_is_a_train_flag():
    from scratchnet.cli import build_parser

    train = build_parser()._subparsers._group_actions[0].choices["train"]
    options = {option for action in train._actions for option in action.option_strings}
    not_flags = ("restore_best", "recipe")  # --no-restore-best; the recipe a config came from is recorded
    missing = [flags.flag(name) for name in flags.FIELDS if flags.flag(name) not in options and name not in not_flags]
    assert missing == [] and "--no-restore-best" in options


def test_error_messages_name_flags_not_fields():
    assert flags.flagged("val_size as a fraction must be in (0, 1), got 1.5") == \
        "--val-size as a fraction must be in (0, 1), got 1.5"
    assert flags.flagged("lr must be a number > 0, got -1") == "--lr must be a number > 0, got -1"
    assert flags.flagged("class_weights and label_smoothing apply to cross-entropy only; use loss 'ce'") == \
        "--class-weight and --label-smoothing apply to cross-entropy only; use loss 'ce'"


def test_train_errors_name_the_flag_the_user_typed(capsys):
    assert main(["train", "--dataset", "mnist", "--val-size", "1.5"]) == 2
    err = capsys.readouterr().err
    assert "--val-size as a fraction must be in (0, 1)" in err and "val_size" not in err


def test_search_accepts_flag_spellings(tmp_path, capsys):
    from scratchnet.commands.search import base_settings

    assert base_settings(None, ["train-subset=100", "--early-stopping=2", "class_weights={\"1\": 2}"]) == \
        {"train_subset": 100, "early_stopping_patience": 2, "class_weights": {"1": 2}}
    out = tmp_path / "search"
    assert main(["search", "--set", "dataset=mnist", "--set", "epochs=0", "--grid", "batch-size=8,16",
                 "--out", str(out)]) == 2  # the bad epochs is reported, so the grid key was understood
    err = capsys.readouterr().err
    assert "epochs must be an integer >= 1" in err and "batch-size" not in err


def test_the_reports_train_again_command_works_as_printed(tmp_path, monkeypatch, capsys):
    root = dataset_dir("mnist-10k")
    monkeypatch.chdir(tmp_path)
    first = tmp_path / "runs" / "first"
    assert main(["train", "--dataset", "mnist", "--root", str(root), "--model", "mlp2-16-8", "--epochs", "1",
                 "--train-subset", "200", "--val-size", "50", "--test-subset", "50", "--batch-size", "50",
                 "--threads", "1", "--quiet", "--out", str(first)]) == 0
    page = (first / "report.html").read_text(encoding="utf-8")
    command = unescape(re.search(r"<pre>(scratchnet train .*?)</pre>", page, re.S).group(1))
    args = command.replace("\\\n", " ").split()[1:]
    assert "--out" not in args
    assert main([*args, "--quiet", "--no-report"]) == 0
    again = [p for p in (tmp_path / "runs").iterdir() if p != first and p.name != "latest"]
    assert len(again) == 1
    assert json.loads((again[0] / "metrics.json").read_text())["test_accuracy"] == \
        json.loads((first / "metrics.json").read_text())["test_accuracy"]
    assert main(["train", "--dataset", "mnist", "--out", str(first)]) == 2
    assert f"scratchnet train --resume {first}" in capsys.readouterr().err
