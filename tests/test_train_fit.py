import csv
import json

import numpy as np
import pytest
from conftest import dataset_dir

from scratchnet.report import write_report
from scratchnet.train import ConfigError, NonFiniteLossError, TrainConfig, fit, load_model, resume
from scratchnet.train.checkpoint import load_checkpoint

# A small CNN with every kind of state a resume must restore: BatchNorm running statistics,
# dropout masks (the default generator), and Adam's moments under a cosine schedule.
SMALL_CNN = {"layers": [
    {"type": "Conv2d", "in_channels": 1, "out_channels": 4, "kernel_size": 3},
    {"type": "BatchNorm2d", "num_features": 4},
    {"type": "ReLU"},
    {"type": "MaxPool2d", "kernel_size": 2},
    {"type": "Flatten"},
    {"type": "Dropout", "p": 0.2},
    {"type": "Linear", "in_features": 4 * 13 * 13, "out_features": 10},
]}


def mnist(tmp_path, **settings) -> TrainConfig:
    """A quick run on 300 real MNIST digits (200 train, 100 validation), 100 test digits."""
    values = dict(dataset="mnist", root=str(dataset_dir("mnist-10k")), model="mlp2-32-16", epochs=2,
                  train_subset=300, val_size=100, test_subset=100, batch_size=50, threads=1,
                  out=str(tmp_path / "run"))
    return TrainConfig(**{**values, **settings})


def weights(run_dir):
    return load_model(run_dir / "model.npz").model.state_dict()


def assert_same_weights(a: dict, b: dict):
    assert list(a) == list(b)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_fit_on_fashion_mnist_writes_the_whole_run_directory(tmp_path):
    config = TrainConfig(root=str(dataset_dir("fashion-mnist")), model="mlp2-64-32", epochs=2, train_subset=500,
                         val_size=100, test_subset=300, batch_size=32, out=str(tmp_path / "run"))
    result = fit(config, quiet=True, report=write_report)
    run = tmp_path / "run"
    assert {p.name for p in run.iterdir()} >= {"config.json", "history.csv", "metrics.json", "model.npz",
                                               "checkpoint.npz", "test_predictions.npz", "report.html"}
    assert result.run_dir == run and result.report == run / "report.html"
    assert TrainConfig.from_dict(json.loads((run / "config.json").read_text())) == config

    with open(run / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"]
    assert [int(r["epoch"]) for r in rows] == [1, 2] and float(rows[1]["lr"]) == 1e-3
    assert float(rows[1]["train_loss"]) < float(rows[0]["train_loss"])

    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics == result.metrics
    assert metrics["dataset"] == "fashion-mnist" and metrics["epochs_run"] == 2 and metrics["best_epoch"] in (1, 2)
    assert [c["class"] for c in metrics["per_class"]][5] == "Sandal"
    assert metrics["num_parameters"] == 784 * 64 + 64 + 64 * 32 + 32 + 330
    assert metrics["model_bytes"] == (run / "model.npz").stat().st_size
    assert np.array(metrics["confusion_matrix"]).sum() == 300 == metrics["macro_avg"]["support"]
    assert metrics["test_accuracy"] > 0.5  # far above chance (0.1) after two epochs on 400 images

    with np.load(run / "test_predictions.npz", allow_pickle=False) as pred:
        y_true, y_pred, proba, index = pred["y_true"], pred["y_pred"], pred["probabilities"], pred["index"]
    assert proba.shape == (300, 10) and np.array_equal(y_pred, proba.argmax(axis=1))
    assert metrics["test_accuracy"] == pytest.approx(np.mean(y_true == y_pred))

    from scratchnet.data import load
    ds = load("fashion-mnist", root=config.root, progress=False)
    assert np.array_equal(ds.y_test[index], y_true)
    np.testing.assert_allclose(load_model(run / "model.npz").predict_proba(ds.x_test[index]), proba, rtol=1e-5)
    assert load_checkpoint(run / "checkpoint.npz").epoch == 2


def test_interrupted_and_resumed_run_ends_bit_for_bit_like_an_uninterrupted_one(tmp_path, capsys):
    spec_file = tmp_path / "small_cnn.json"
    spec_file.write_text(json.dumps(SMALL_CNN))
    settings = dict(model=str(spec_file), epochs=3, schedule="cosine", augment="crop+flip", crop_padding=2)
    straight = fit(mnist(tmp_path, **settings, out=str(tmp_path / "straight")), quiet=True)

    def stop_after_first_epoch(row):
        if row["epoch"] == 1:
            raise KeyboardInterrupt

    interrupted = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        fit(mnist(tmp_path, **settings, out=str(interrupted)), quiet=True,
            on_epoch_end=stop_after_first_epoch)
    assert f"scratchnet train --resume {interrupted}" in capsys.readouterr().err
    assert load_checkpoint(interrupted / "checkpoint.npz").epoch == 1 and not (interrupted / "model.npz").exists()

    spec_file.unlink()  # the checkpoint holds the architecture
    resumed = resume(interrupted, quiet=True)
    assert_same_weights(weights(interrupted), weights(tmp_path / "straight"))
    assert [r["val_loss"] for r in resumed.history] == [r["val_loss"] for r in straight.history]
    assert [r["lr"] for r in resumed.history] == [r["lr"] for r in straight.history]
    assert resumed.metrics["test_loss"] == straight.metrics["test_loss"]


def test_resume_with_more_epochs_continues_the_run(tmp_path):
    fit(mnist(tmp_path, model="mlp2-dropout-32-16", epochs=3, out=str(tmp_path / "three")), quiet=True)
    fit(mnist(tmp_path, model="mlp2-dropout-32-16", epochs=2, out=str(tmp_path / "two")), quiet=True)
    with pytest.raises(ConfigError, match="already trained 2 of 2 epochs"):
        resume(tmp_path / "two", quiet=True)
    resume(tmp_path / "two", epochs=3, quiet=True)
    assert_same_weights(weights(tmp_path / "two"), weights(tmp_path / "three"))
    assert json.loads((tmp_path / "two" / "config.json").read_text())["epochs"] == 3


def test_diverging_loss_stops_with_epoch_batch_and_advice(tmp_path):
    config = mnist(tmp_path, optimizer="sgd", lr=1e6)
    with pytest.raises(NonFiniteLossError, match=r"epoch 1, batch \d+ of 4.*lower learning rate, e.g. --lr 100000"):
        fit(config, quiet=True)
    run = tmp_path / "run"
    assert load_checkpoint(run / "checkpoint.npz").epoch == 0  # the last good state is kept
    assert not (run / "model.npz").exists()


def test_early_stopping_restores_the_epoch_with_the_lowest_validation_loss(tmp_path):
    # 60 training images and a large learning rate: validation loss bottoms out within a few epochs.
    overfit = dict(train_subset=90, val_size=30, batch_size=10, lr=0.01, epochs=30, early_stopping_patience=2)
    result = fit(mnist(tmp_path, **overfit), quiet=True)
    val_losses = [row["val_loss"] for row in result.history]
    best = int(np.argmin(val_losses)) + 1
    assert result.metrics["stopped_early"] and len(val_losses) == best + 2 < 30
    assert result.metrics["best_epoch"] == best and result.metrics["epochs_run"] == best + 2
    checkpoint = load_checkpoint(tmp_path / "run" / "checkpoint.npz")
    assert_same_weights(weights(tmp_path / "run"), checkpoint.best_model)
    with pytest.raises(ConfigError, match="stopped early"):
        resume(tmp_path / "run", epochs=40, quiet=True)

    last = fit(mnist(tmp_path, **overfit, restore_best=False, out=str(tmp_path / "last")), quiet=True)
    assert [r["val_loss"] for r in last.history] == val_losses  # the same run, so the same epochs
    assert_same_weights(weights(tmp_path / "last"), load_checkpoint(tmp_path / "last" / "checkpoint.npz").model)


def test_class_weights_by_name_weigh_the_cross_entropy(tmp_path):
    footwear = {"Sandal": 2.0, "Sneaker": 2.0, "Ankle boot": 2.0}
    config = TrainConfig(root=str(dataset_dir("fashion-mnist")), model="mlp2-32-16", epochs=1, train_subset=200,
                         val_size=50, test_subset=100, class_weights=footwear, out=str(tmp_path / "run"))
    result = fit(config, quiet=True)
    with np.load(tmp_path / "run" / "test_predictions.npz") as pred:
        y, p = pred["y_true"], pred["probabilities"].astype(np.float64)
    w = np.array([2.0 if c in (5, 7, 9) else 1.0 for c in range(10)])[y]
    nll = -np.log(p[np.arange(len(y)), y])
    assert result.metrics["test_loss"] == pytest.approx((w * nll).sum() / w.sum(), rel=1e-4)
    assert result.metrics["test_loss"] != pytest.approx(nll.mean(), rel=1e-4)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["class_weights"] == footwear


def test_sigmoid_model_trains_with_mse_on_full_batches(tmp_path):
    result = fit(mnist(tmp_path, model="cnet-mlp", batch_size="full", optimizer="sgd", lr=0.5), quiet=True)
    assert result.metrics["loss"] == "mse"
    assert result.history[1]["train_loss"] < result.history[0]["train_loss"]


@pytest.mark.parametrize("settings, message", [
    (dict(model="resnet9"), "unknown model 'resnet9'; the zoo has"),
    (dict(dataset="imagenet"), "unknown dataset 'imagenet'; known datasets: mnist"),
    (dict(class_weights={"Sandal": 2.0}), "class weights name 'Sandal', not classes of mnist; its classes are 0, 1"),
    (dict(batch_size=500), "batch_size 500 is larger than the 200 training images"),
    (dict(lr=0.0), "lr must be a number > 0"),
    (dict(optimizer="lbfgs"), "optimizer must be one of sgd, adam"),
    (dict(val_size=400), "val_size must be between 1 and 300"),
    (dict(loss="mse", class_weights={"3": 2.0}), "apply to cross-entropy only"),
    (dict(batch_size="half"), "batch_size must be an integer >= 1 or \"full\""),
])
def test_bad_settings_fail_before_any_work(tmp_path, settings, message):
    with pytest.raises(ConfigError, match=message):
        fit(mnist(tmp_path, **settings), quiet=True)
    assert not (tmp_path / "run").exists()


def test_an_existing_run_is_not_overwritten(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match="already holds a run; continue it with `scratchnet train --resume "):
        fit(mnist(tmp_path), quiet=True)
    with pytest.raises(ConfigError, match="not a run directory to resume"):
        resume(tmp_path / "elsewhere")


def test_resume_refuses_to_stretch_a_cosine_schedule(tmp_path):
    fit(mnist(tmp_path, schedule="cosine", epochs=2), quiet=True)
    with pytest.raises(ConfigError, match="cosine learning-rate schedule laid out over its 2 epochs"):
        resume(tmp_path / "run", epochs=4, quiet=True)


def test_a_loss_that_overflows_from_finite_outputs_is_a_divergence_too(tmp_path):
    # cnet's sigmoid MLP with MSE cannot overflow; a linear MLP with MSE on huge outputs can.
    spec_file = tmp_path / "linear.json"
    spec_file.write_text(json.dumps({"layers": [{"type": "Flatten"}, {"type": "Linear", "in_features": 784,
                                                                      "out_features": 10}]}))
    config = mnist(tmp_path, model=str(spec_file), loss="mse", optimizer="sgd", lr=1e30, normalize="none")
    with pytest.raises(NonFiniteLossError, match="lower learning rate"):
        fit(config, quiet=True)
