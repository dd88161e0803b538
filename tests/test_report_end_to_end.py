"""A real tiny training run on Fashion-MNIST, its report, `scratchnet report` and `scratchnet predict`."""
from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import dataset_dir
from PIL import Image

from scratchnet import cli, data
from scratchnet.report import write_report
from scratchnet.train import TrainConfig, fit


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = dataset_dir("fashion-mnist")
    config = TrainConfig(dataset="fashion-mnist", root=str(root), model="mlp2", epochs=2, batch_size=50,
                         train_subset=400, val_size=100, test_subset=120,
                         out=str(tmp_path_factory.mktemp("e2e") / "run"))
    return fit(config, quiet=True, report=write_report)


def test_training_writes_a_report_with_its_real_numbers(run):
    assert run.report == run.run_dir / "report.html"
    text = run.report.read_text(encoding="utf-8")
    assert f"{100 * run.metrics['test_accuracy']:.2f} %" in text
    assert f"{run.metrics['test_loss']:.4f}" in text
    assert f"{run.metrics['num_parameters']:,}" in text
    assert "--train-subset 400" in text and "--test-subset 120" in text


def test_cli_report_finds_the_same_test_images_the_run_was_scored_on(run, capsys):
    drawn_by_training = (run.run_dir / "mistakes.png").read_bytes()
    assert cli.main(["report", str(run.run_dir)]) == 0
    assert capsys.readouterr().out.strip() == str(run.report)
    assert (run.run_dir / "mistakes.png").read_bytes() == drawn_by_training


def test_predict_on_test_images_saved_as_png_matches_the_run(run, tmp_path, capsys):
    predictions = dict(np.load(run.run_dir / "test_predictions.npz"))
    x_test = data.load("fashion-mnist", root=run.config.root, progress=False).x_test
    paths = [tmp_path / f"test{i}.png" for i in range(2)]
    for path, position in zip(paths, predictions["index"]):
        Image.fromarray(x_test[position, 0]).save(path)
    assert cli.main(["predict", str(run.run_dir), *map(str, paths), "--json", "--top-k", "10"]) == 0
    classes = [row["class"] for row in run.metrics["per_class"]]
    for i, line in enumerate(capsys.readouterr().out.splitlines()):
        record = json.loads(line)
        assert record["prediction"] == classes[predictions["y_pred"][i]]
        got = [record["probabilities"][name] for name in classes]
        assert np.allclose(got, predictions["probabilities"][i], atol=1e-6)
