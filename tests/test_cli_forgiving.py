"""A command line that forgives: "did you mean" for flags, choices, models and datasets; quiet
pipes; one exit status per outcome (0 done, 1 failed, 2 usage error, 130 interrupted)."""
import os
import subprocess
import sys

import pytest
from conftest import dataset_dir

from scratchnet import cli
from scratchnet.cli import main


def usage_error(capsys, *argv) -> str:
    """The one-line error of a command that argparse refuses (exit 2)."""
    with pytest.raises(SystemExit) as stop:
        main(list(argv))
    assert stop.value.code == 2
    return capsys.readouterr().err.splitlines()[-1]


@pytest.mark.parametrize("typed, meant", [("--learning-rate", "--lr"), ("--optimiser", "--optimizer"),
                                           ("--batchsize", "--batch-size"), ("--val-szie", "--val-size")])
def test_an_unknown_flag_gets_the_flag_it_resembles(capsys, typed, meant):
    line = usage_error(capsys, "train", "--dataset", "mnist", typed, "3")
    assert f"{typed}: did you mean {meant}" in line


def test_a_misspelt_command_or_choice_gets_a_suggestion(capsys):
    assert usage_error(capsys, "trian").endswith("did you mean 'train'?")
    assert "did you mean 'adam'" in usage_error(capsys, "train", "--optimizer", "adma")


@pytest.mark.parametrize("typed, meant", [("cnn3-128-01", "cnn3-128-0.1"), ("CNN3-128-0.25", "cnn3-128-0.25"),
                                           ("lenet", "lenet5")])
def test_a_misspelt_model_gets_the_zoo_name(capsys, typed, meant):
    assert main(["train", "--dataset", "mnist", "--model", typed]) == 2
    err = capsys.readouterr().err
    assert f"did you mean {meant!r}" in err
    if typed == "cnn3-128-01":  # the suggestion leads, before the dropout complaint
        assert err.startswith("scratchnet train: error: model 'cnn3-128-01': did you mean 'cnn3-128-0.1'?")
    assert main(["models", "--spec", typed]) == 2 and f"did you mean {meant!r}" in capsys.readouterr().err


def test_a_valid_model_is_never_suggested_to_itself():
    from scratchnet.commands.models import model_error

    assert model_error("mlp2", "something else went wrong") == "something else went wrong"


def test_dataset_names_are_case_insensitive_on_the_command_line(tmp_path, capsys):
    root = dataset_dir("mnist-10k")
    assert main(["train", "--dataset", "MNIST", "--root", str(root), "--model", "mlp2-8-8", "--epochs", "1",
                 "--train-subset", "100", "--val-size", "20", "--test-subset", "20", "--batch-size", "40", "--quiet", "--no-report",
                 "--out", str(tmp_path / "run")]) == 0
    assert '"dataset": "mnist"' in (tmp_path / "run" / "config.json").read_text()


def test_output_into_a_closed_pipe_ends_quietly():
    reader, writer = os.pipe()
    os.close(reader)  # the reader is gone before the first line, as `| head -0` would
    process = subprocess.run([sys.executable, "-m", "scratchnet", "models"], stdout=writer, stderr=subprocess.PIPE,
                             text=True, timeout=120)
    os.close(writer)
    assert process.returncode == 0 and process.stderr == ""


def test_exit_status_is_documented_in_help(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "exit status: 0 done, 1 the work failed, 2 a usage error" in capsys.readouterr().out
    assert "2  a usage error" in cli.__doc__


def test_an_interrupted_training_says_so_once(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("scratchnet.commands.train.fit", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    assert main(["train", "--dataset", "mnist", "--out", str(tmp_path / "run")]) == 130
    assert "interrupted" not in capsys.readouterr().err  # the trainer's own message is the only one


def test_a_dataset_that_is_nowhere_is_a_failure_not_a_usage_error(isolated_data_places, tmp_path, capsys, monkeypatch):
    from scratchnet.data import dataset

    def offline(*args, **kwargs):
        raise dataset.DownloadError("no network here")

    monkeypatch.setattr(dataset, "download_files", offline)
    assert main(["train", "--dataset", "kmnist", "--out", str(tmp_path / "run")]) == 1
    assert main(["explore", "kmnist"]) == 1
    err = capsys.readouterr().err
    assert err.count("dataset 'kmnist' was not found") == 2 and "error:" not in err


def test_a_misspelt_recipe_gets_a_suggestion(capsys):
    from scratchnet.train.recipes import RECIPES

    name = next(iter(RECIPES))
    assert main(["train", "--recipe", name[:-1] + "x"]) == 2
    assert f"did you mean {name!r}?" in capsys.readouterr().err


def test_an_unknown_flag_of_a_command_shows_that_commands_usage(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["train", "--learning-rate", "0.1"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: scratchnet train ") and "[--lr LR]" in err
    assert err.splitlines()[-1] == ("scratchnet train: error: unrecognized arguments: --learning-rate 0.1; "
                                    "--learning-rate: did you mean --lr?")


def test_closing_the_reader_of_stdout_does_not_stop_training(tmp_path):
    """`scratchnet train ... | head -2`: once the reader is gone, the run still ends with every file."""
    root, run = dataset_dir("mnist-10k"), tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "scratchnet", "train", "--dataset", "mnist-10k", "--root", str(root),
                                "--model", "mlp2-8-8", "--epochs", "2", "--train-subset", "300", "--test-subset", "50",
                                "--out", str(run)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = [process.stdout.readline() for _ in range(2)]
    process.stdout.close()  # the reader goes away, as `head -2` does after its second line
    _, errors = process.communicate(timeout=300)
    assert all(lines) and process.returncode == 0, errors
    assert "BrokenPipe" not in errors and "Traceback" not in errors
    for name in ("config.json", "checkpoint.npz", "model.npz", "metrics.json", "report.html"):
        assert (run / name).is_file(), name
