"""The run report: figures, report.html and `scratchnet report`, on a small fake-but-valid run."""
from __future__ import annotations

import base64
import csv
import json
import shlex
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from builders import write_idx
from scratchnet import cli
from scratchnet.commands.train import NOT_SETTINGS
from scratchnet.data import Preprocess
from scratchnet.report import plots, write_report
from scratchnet.report.html import (format_bytes, format_duration, split_description, train_arguments,
                                    wrap_command)
from scratchnet.train.runfiles import read_run
from scratchnet.train import TrainConfig
from scratchnet.spec import build_model
from scratchnet.train.modelfile import save_model
from scratchnet.train.metrics import classification_report

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
FIGURES = ("curves.png", "lr.png", "confusion.png", "mistakes.png", "weights.png")
N_TEST = 40


def make_dataset(root: Path, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A tiny Fashion-MNIST-shaped dataset in ``root``; returns the test images and labels."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    x = {split: rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8) for split in ("train", "t10k")}
    y = {split: np.arange(N_TEST) % 10 for split in ("train", "t10k")}
    for split in ("train", "t10k"):
        write_idx(root / f"{split}-images-idx3-ubyte.gz", x[split])
        write_idx(root / f"{split}-labels-idx1-ubyte.gz", y[split].astype(np.uint8))
    return x["t10k"][:, None], y["t10k"]


def make_run(run_dir: Path, data_root: Path, epochs: int = 5, seed: int = 0) -> None:
    """A run directory as `scratchnet train` writes it: a saved Linear model, a history, metrics
    computed from random predictions on the tiny dataset in ``data_root``."""
    rng = np.random.default_rng(seed)
    _, y_true = make_dataset(data_root, seed)
    y_pred = np.where(rng.random(N_TEST) < 0.7, y_true, rng.integers(0, 10, N_TEST))
    probabilities = rng.dirichlet(np.ones(10), N_TEST)
    probabilities[np.arange(N_TEST), y_pred] += 1.0
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    run_dir.mkdir(parents=True)
    config = {"dataset": "fashion-mnist", "root": str(data_root), "model": "linear<test>", "loss": "ce",
              "optimizer": "sgd", "lr": 0.05, "epochs": epochs, "batch_size": 16, "val_size": 0.1,
              "split_seed": 0, "seed": 3, "out": str(run_dir)}
    (run_dir / "config.json").write_text(json.dumps(config))
    with open(run_dir / "history.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"])
        for epoch in range(1, epochs + 1):
            writer.writerow([epoch, 1 / epoch, 1 - 0.5 / epoch, 1.1 / epoch, 1 - 0.6 / epoch, 0.05, 1.5])
    spec = {"layers": [{"type": "Flatten"}, {"type": "Linear", "in_features": 784, "out_features": 10}]}
    save_model(run_dir / "model.npz", build_model(spec), spec, Preprocess("scale"), CLASSES, (1, 28, 28),
               "fashion-mnist")
    report = classification_report(y_true, y_pred, CLASSES)
    metrics = {"test_loss": 0.4321, "test_accuracy": report.pop("accuracy"), **report, "best_epoch": 3,
               "epochs_run": epochs, "train_seconds": 75.6, "num_parameters": 7850,
               "model_bytes": (run_dir / "model.npz").stat().st_size, "dataset": "fashion-mnist",
               "dataset_note": "Fashion-MNIST <tiny> subset"}
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    np.savez(run_dir / "test_predictions.npz", y_true=y_true, y_pred=y_pred, probabilities=probabilities,
             index=np.arange(N_TEST))


class PageParser(HTMLParser):
    """Collects every tag's attributes and the text of each table row's cells."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """One report, built once through the CLI (which loads the test images from the dataset)."""
    base = tmp_path_factory.mktemp("report")
    run_dir = base / "run"
    make_run(run_dir, base / "data")
    return run_dir


def test_cli_report_rebuilds_the_report_and_prints_its_path(report, capsys):
    for name in (*FIGURES, "report.html"):
        (report / name).unlink(missing_ok=True)
    assert cli.main(["report", str(report)]) == 0
    assert capsys.readouterr().out.strip() == str(report / "report.html")
    for name in (*FIGURES, "report.html"):
        assert (report / name).is_file()


def test_every_figure_is_a_png_of_sensible_size(report):
    for name in FIGURES:
        with Image.open(report / name) as image:
            assert image.format == "PNG"
            assert 300 <= image.width <= 4000 and 100 <= image.height <= 4000, (name, image.size)


def test_report_is_self_contained(report):
    page = PageParser()
    page.feed((report / "report.html").read_text(encoding="utf-8"))
    images = [attrs["src"] for tag, attrs in page.tags if tag == "img"]
    assert len(images) == len(FIGURES)
    for src in images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG\r\n\x1a\n")
    for tag, attrs in page.tags:
        assert tag not in ("script", "link", "iframe")
        for name in ("src", "href"):
            assert not attrs.get(name, "data:").startswith(("http:", "https:", "//")), (tag, attrs)


def test_report_shows_the_headline_numbers_and_the_setup(report):
    text = (report / "report.html").read_text(encoding="utf-8")
    metrics = json.loads((report / "metrics.json").read_text())
    assert f"{100 * metrics['test_accuracy']:.2f} %" in text
    for expected in ("0.4321", "3 of 5", "1 min 16 s", "7,850", format_bytes(metrics["model_bytes"]), "cross-entropy",
                     "Fashion-MNIST &lt;tiny&gt; subset", "linear&lt;test&gt;", "Linear(in_features=784",
                     "10% of the training images held out for validation (seed 0)"):
        assert expected in text


def test_setup_shows_every_training_feature_the_run_used():
    from scratchnet.report.html import setup_section
    config = {"optimizer": "sgd", "val_size": 0.1, "schedule": "cosine", "augment": "flip-crop", "ema_decay": 0.99,
              "tta": True, "clip_grad_norm": 1.0, "weight_decay": 0.0005, "skip_decay_norm_bias": True,
              "time_budget": 90.0, "recipe": "cifar-fast", "init_from": "runs/a/model.npz", "new_head": True}
    setup = setup_section(config, {}, "arch").split("<h3>")[0]  # the Setup table, not the raw config
    for expected in ("<dt>EMA of the weights</dt><dd>decay 0.99", "<dt>Test-time augmentation</dt>",
                     "<dt>Gradient clipping</dt><dd>global L2 norm at most 1.0", "<dt>Weight decay</dt><dd>0.0005",
                     "<dt>Decay groups</dt>", "<dt>Time budget</dt><dd>1 min 30 s", "<dt>Recipe</dt><dd>cifar-fast",
                     "<dt>Initialised from</dt><dd>runs/a/model.npz", "<dt>New classifier head</dt>",
                     "<dt>Augmentation</dt><dd>flip-crop"):
        assert expected in setup, expected
    plain = setup_section({"optimizer": "sgd", "val_size": 0.1, "ema_decay": None, "tta": False}, {}, "arch")
    assert "EMA" not in plain and "Test-time" not in plain and "Decay groups" not in plain


def test_report_per_class_table_has_the_values_of_metrics_json(report):
    page = PageParser()
    page.feed((report / "report.html").read_text(encoding="utf-8"))
    metrics = json.loads((report / "metrics.json").read_text())
    rows = {row[0]: row[1:] for row in page.rows if row}
    assert rows["class"] == ["precision", "recall", "F1", "support"]
    expected = {row["class"]: row for row in metrics["per_class"]}
    expected.update({"macro avg": metrics["macro_avg"], "weighted avg": metrics["weighted_avg"]})
    for label, scores in expected.items():
        assert rows[label] == [f"{scores['precision']:.4f}", f"{scores['recall']:.4f}", f"{scores['f1']:.4f}",
                               f"{scores['support']:,}"], label
    assert rows["accuracy"][2] == f"{metrics['test_accuracy']:.4f}"


def test_write_report_takes_the_test_images_directly(tmp_path):
    make_run(tmp_path / "run", tmp_path / "data")
    images, _ = make_dataset(tmp_path / "elsewhere", seed=1)
    page = write_report(tmp_path / "run", test_images=images)
    assert page == tmp_path / "run" / "report.html" and page.is_file()


def test_cli_report_explains_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert cli.main(["report", str(tmp_path)]) == 2
    assert "config.json is missing" in capsys.readouterr().err


def test_read_run_reads_empty_validation_cells_as_nan(tmp_path):
    make_run(tmp_path / "run", tmp_path / "data", epochs=2)
    history = (tmp_path / "run" / "history.csv").read_text().splitlines()
    lines = [history[0]] + [",".join(c if i not in (3, 4) else "" for i, c in enumerate(line.split(",")))
                            for line in history[1:]]
    (tmp_path / "run" / "history.csv").write_text("\n".join(lines) + "\n")
    run = read_run(tmp_path / "run")
    assert np.isnan(run.history["val_loss"]).all() and run.history["train_loss"].tolist() == [1.0, 0.5]


# -- the figure functions on their own ----------------------------------------------------------
def test_first_layer_filters_reshape_linear_rows_and_keep_conv_kernels():
    linear = np.arange(6 * 12, dtype=np.float32).reshape(6, 12)
    filters = plots.first_layer_filters(linear, (3, 2, 2))
    assert filters.shape == (6, 3, 2, 2) and np.array_equal(filters[1].ravel(), linear[1])
    conv = np.zeros((4, 3, 5, 5))
    assert plots.first_layer_filters(conv, (3, 32, 32)).shape == (4, 3, 5, 5)
    with pytest.raises(ValueError, match="cannot draw a first layer"):
        plots.first_layer_filters(np.zeros((6, 10)), (1, 28, 28))


def test_plot_filters_draws_colour_kernels_and_caps_the_count(tmp_path):
    kernels = np.random.default_rng(0).normal(size=(70, 3, 5, 5))
    path = plots.plot_filters(kernels, tmp_path / "w.png", "conv", max_units=16)
    with Image.open(path) as image:
        assert image.format == "PNG" and image.height < image.width / 2  # two rows of eight tiles, not 70 tiles


def test_plot_mistakes_without_mistakes_says_so(tmp_path):
    y = np.arange(5)
    path = plots.plot_mistakes(np.zeros((5, 3, 8, 8), np.uint8), y, y, np.eye(5), list("abcde"), tmp_path / "m.png")
    assert Image.open(path).format == "PNG"


def test_plot_mistakes_rejects_images_that_do_not_match_the_predictions(tmp_path):
    y = np.arange(5)
    with pytest.raises(ValueError, match="got 4 test images for 5 predictions"):
        plots.plot_mistakes(np.zeros((4, 1, 8, 8), np.uint8), y, y, np.eye(5), list("abcde"), tmp_path / "m.png")


# -- text helpers of the page -------------------------------------------------------------------
@pytest.mark.parametrize("seconds, text",
                         [(None, "—"), (42.04, "42.0 s"), (192.4, "3 min 12 s"), (3900, "1 h 05 min")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize("size, text", [(None, "—"), (512, "512 B"), (245_000, "245 KB"), (90_123_456, "90.1 MB")])
def test_format_bytes(size, text):
    assert format_bytes(size) == text


def test_split_description_counts_fractions_and_no_split():
    assert split_description({"val_size": 10000, "split_seed": 4}) == "10000 images held out for validation (seed 4)"
    assert (split_description({"val_size": 0.125, "split_seed": 0, "stratify": True})
            == "12.5% of the training images held out for validation (seed 0, stratified by class)")
    assert split_description({"val_size": 0}).startswith("none")


def test_train_arguments_give_back_the_same_config():
    config = TrainConfig(dataset="mnist", root="/data/my mnist", model="conv2", class_weights={"7": 2.0, "1": 0.5},
                         lr=3e-4, betas=(0.8, 0.99), stratify=True, restore_best=False, batch_size="full",
                         early_stopping_patience=3, train_subset=500, out="runs/x").to_dict()
    args = cli.build_parser().parse_args(["train", *shlex.split(" ".join(train_arguments(config)))])
    settings = {k: v for k, v in vars(args).items() if k not in NOT_SETTINGS}
    settings["class_weights"], settings["betas"] = dict(settings["class_weights"]), tuple(settings["betas"])
    assert TrainConfig(**settings).to_dict() == config


def test_train_arguments_leave_out_defaults_except_the_common_settings():
    args = train_arguments(TrainConfig(out="runs/x").to_dict())
    assert [arg.split()[0] for arg in args] == ["--dataset", "--model", "--loss", "--optimizer", "--lr", "--epochs",
                                                "--batch-size", "--val-size", "--seed", "--out"]


def test_wrap_command_keeps_flags_with_their_values():
    text = wrap_command("scratchnet train", ["--dataset fashion-mnist", "--model cnn3-512-0.1", "--lr 0.001"],
                        width=40)
    assert text == "scratchnet train --dataset fashion-mnist \\\n    --model cnn3-512-0.1 --lr 0.001"
