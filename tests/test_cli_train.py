import csv
import json

import numpy as np
import pytest
from conftest import dataset_dir
from sklearn.metrics import classification_report

from scratchnet import zoo
from scratchnet.cli import main


def quick_train(out, *extra):
    """`scratchnet train` arguments for a seconds-long run on 300 real MNIST digits."""
    return ["train", "--dataset", "mnist", "--root", str(dataset_dir("mnist-10k")), "--model", "mlp2-32-16",
            "--epochs", "1", "--train-subset", "300", "--val-size", "100", "--test-subset", "100",
            "--batch-size", "50", "--threads", "1", "--out", str(out), "--no-report", *extra]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    assert main(quick_train(out, "--quiet", "--class-weight", "3=2", "--class-weight", "8=1.5")) == 0
    return out


def test_train_writes_a_run_with_the_given_settings(run_dir):
    config = json.loads((run_dir / "config.json").read_text())
    assert config["class_weights"] == {"3": 2.0, "8": 1.5} and config["model"] == "mlp2-32-16"
    assert config["batch_size"] == 50 and config["optimizer"] == "adam"  # given, and the default
    for name in ("history.csv", "metrics.json", "model.npz", "checkpoint.npz", "test_predictions.npz"):
        assert (run_dir / name).is_file()


def test_train_prints_one_line_per_epoch_and_the_report(tmp_path, capsys):
    assert main(quick_train(tmp_path / "run", "--epochs", "2")) == 0
    out = capsys.readouterr().out
    assert "training mlp2-32-16 (25,818 parameters) on mnist: 200 train / 100 validation / 100 test" in out
    lines = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 2 and lines[1].startswith("epoch 2/2  train loss ") and " val loss " in lines[1]
    assert "precision    recall  f1-score   support" in out and "weighted avg" in out
    assert f"model: {tmp_path / 'run' / 'model.npz'}" in out


def test_evaluate_prints_sklearns_report_for_the_run(run_dir, capsys):
    assert main(["evaluate", str(run_dir)]) == 0
    out = capsys.readouterr().out
    with np.load(run_dir / "test_predictions.npz") as pred:
        expected = classification_report(pred["y_true"], pred["y_pred"], target_names=[str(d) for d in range(10)],
                                         digits=4, zero_division=0)
    assert expected in out
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert f"test accuracy {metrics['test_accuracy']:.2%}" in out and f"test loss {metrics['test_loss']:.4f}" in out


def test_evaluate_on_a_dataset_with_other_classes_is_refused(run_dir, capsys):
    root = dataset_dir("fashion-mnist")
    assert main(["evaluate", str(run_dir), "--dataset", "fashion-mnist", "--root", str(root)]) == 2
    assert "the model was trained on mnist" in capsys.readouterr().err


def test_resume_from_the_command_line_adds_epochs(tmp_path):
    out = tmp_path / "run"
    assert main(quick_train(out, "--quiet")) == 0
    assert main(["train", "--resume", str(out), "--epochs", "2", "--quiet", "--no-report"]) == 0
    with open(out / "history.csv", newline="") as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["1", "2"]


@pytest.mark.parametrize("extra, message", [
    (["--model", "nope"], "unknown model 'nope'"),
    (["--class-weight", "Sandal=2"], "class weights name 'Sandal', not classes of mnist"),
    (["--batch-size", "1000"], "--batch-size 1000 is larger than the 200 training images"),
    (["--lr", "-1"], "--lr must be a number > 0"),
])
def test_bad_arguments_exit_2_with_the_allowed_values(tmp_path, capsys, extra, message):
    assert main(quick_train(tmp_path / "run", *extra)) == 2
    last_line = capsys.readouterr().err.splitlines()[-1]
    assert last_line.startswith("scratchnet train: error: ") and message in last_line
    assert not (tmp_path / "run").exists()


def test_resume_takes_no_other_settings(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path), "--lr", "0.1"]) == 2
    assert "only --epochs may be given with it, not --lr" in capsys.readouterr().err


def test_malformed_class_weight_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--class-weight", "Sandal"])
    assert exit_info.value.code == 2 and "expected NAME=WEIGHT such as Sandal=2" in capsys.readouterr().err


def test_divergence_exits_1_with_advice(tmp_path, capsys):
    assert main(quick_train(tmp_path / "run", "--optimizer", "sgd", "--lr", "1e6", "--quiet")) == 1
    assert "Try a lower learning rate" in capsys.readouterr().err


def test_models_lists_the_zoo_with_parameter_counts(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    lenet = next(line for line in out.splitlines() if line.startswith("lenet5 "))
    assert "44,426" in lenet and "62,006" in lenet  # LeNet-5 on 1x28x28 (flatten 256) and 3x32x32 (flatten 400)
    assert "cnnK-N-P (e.g. cnn3-512-0.1)" in out and len(out.splitlines()) == len(zoo.ARCHITECTURES) + 1


def test_models_spec_prints_json_a_model_file_can_hold(capsys):
    assert main(["models", "--spec", "conv2"]) == 0
    assert json.loads(capsys.readouterr().out) == zoo.spec("conv2")
