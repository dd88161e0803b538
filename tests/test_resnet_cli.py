"""`scratchnet train --model resnet20 --dataset cifar-10` from the command line, on a few real images."""
import json

import numpy as np
from conftest import dataset_dir

from scratchnet.cli import main
from scratchnet.train import load_model


def test_resnet20_trains_saves_and_loads_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--dataset", "cifar-10", "--root", str(dataset_dir("cifar-10")), "--model", "resnet20",
            "--optimizer", "sgd", "--momentum", "0.9", "--lr", "0.05", "--epochs", "1", "--batch-size", "32",
            "--train-subset", "96", "--val-size", "32", "--test-subset", "32", "--threads", "1",
            "--out", str(out), "--no-report", "--quiet"]
    assert main(args) == 0
    meta = json.loads(bytes(np.load(out / "model.npz")["scratchnet_model"]).decode())
    assert meta["format_version"] == 2 and meta["spec"]["children"]["layer3"]["layers"][0]["type"] == "BasicBlock"
    loaded = load_model(out)
    assert loaded.model.layer3[0].downsample.out_channels == 64 and loaded.input_shape == (3, 32, 32)
    images = np.random.default_rng(0).integers(0, 256, (3, 3, 32, 32), dtype=np.uint8)
    np.testing.assert_allclose(loaded.predict_proba(images).sum(axis=1), 1, rtol=1e-5)
    assert json.loads((out / "metrics.json").read_text())["num_parameters"] == 269_722
    assert main(["train", "--resume", str(out), "--epochs", "2", "--quiet", "--no-report"]) == 0  # a tree resumes
    assert len((out / "history.csv").read_text().strip().splitlines()) == 3  # header and two epochs
