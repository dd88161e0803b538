"""Figures and the HTML report of a training run.

``write_report(run_dir)`` reads the files ``scratchnet train`` wrote and adds
``curves.png``, ``lr.png``, ``augmented.png`` (when the run augments its images),
``confusion.png``, ``mistakes.png``, ``weights.png`` and the self-contained ``report.html``. The figure functions in ``plots`` take plain arrays,
for use in notebooks.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data import load
from ..nn import Parameter
from ..train.config import TrainConfig
from ..train.modelfile import load_model
from ..train.schedules import rates_per_step
from ..version import __version__
from .html import render_report
from .plots import first_layer_filters, plot_confusion, plot_curves, plot_filters, plot_mistakes
from ..train.runfiles import REPORT, RunFiles, read_run, write_text_atomic
from .training_plots import augmented_samples, plot_augmented, plot_learning_rate

__all__ = ["write_report", "read_run", "RunFiles", "plot_curves", "plot_confusion", "plot_mistakes",
           "plot_filters", "first_layer_filters"]

MAX_UNITS = 64  # first-layer units drawn in weights.png
AUGMENTED_IMAGES = 8  # test images drawn in augmented.png, each with three augmented versions


def write_report(run_dir: str | Path, test_images: np.ndarray | None = None) -> Path:
    """Write the figures and ``report.html`` into ``run_dir``; return the path of report.html.

    ``test_images`` (uint8 (N, C, H, W), in the order of the saved predictions) are
    loaded from the run's dataset when not given.
    """
    run = read_run(run_dir)
    loaded = load_model(run.model_path)
    classes = [row["class"] for row in run.metrics["per_class"]]
    if test_images is None:
        test_images = _load_test_images(run)
    out = run.run_dir
    figures = {
        "curves": plot_curves(run.history, out / "curves.png", run.metrics.get("best_epoch")),
        "confusion": plot_confusion(np.array(run.metrics["confusion_matrix"]), classes, out / "confusion.png"),
        "mistakes": plot_mistakes(test_images, run.y_true, run.y_pred, run.probabilities, classes,
                                  out / "mistakes.png"),
        "weights": _plot_first_layer(loaded.model, loaded.input_shape, out / "weights.png"),
    }
    config = TrainConfig.from_dict(run.config)
    steps = run.metrics.get("steps_per_epoch")
    per_step = rates_per_step(config, steps) if steps and len(run.history["epoch"]) == config.epochs else None
    figures["lr"] = plot_learning_rate(run.history, out / "lr.png", per_step, steps)
    samples = test_images[:AUGMENTED_IMAGES]
    draws = augmented_samples(samples, config)
    if draws:
        figures["augmented"] = plot_augmented(samples, draws, out / "augmented.png", config.augment)
    page = out / REPORT
    batch = run.config.get("batch_size")
    layers = loaded.model.summary(loaded.input_shape, batch if isinstance(batch, int) else 1)
    write_text_atomic(page, render_report(run, str(layers), figures, __version__))
    return page


def _load_test_images(run: RunFiles) -> np.ndarray:
    """The run's test images, from its dataset (found as training found it), in prediction order."""
    ds = load(run.config["dataset"], root=run.config.get("root"))
    index = run.test_index
    if index.size and (index.max() >= len(ds.y_test) or not np.array_equal(ds.y_test[index], run.y_true)):
        raise ValueError(f"the {run.config['dataset']} test set found in {ds.source} is not the one this run was "
                         "scored on (its labels differ); set \"root\" in config.json to the dataset's folder")
    return ds.x_test[index]


def _plot_first_layer(model, input_shape: tuple[int, int, int], path: Path) -> Path:
    """weights.png for the first Linear or Conv2d layer of ``model`` (the first 2-D or 4-D weight)."""
    for name, module in model.named_modules():
        weight = getattr(module, "weight", None)
        if isinstance(weight, Parameter) and weight.data.ndim in (2, 4):
            filters = first_layer_filters(weight.data, input_shape)
            shown = min(len(filters), MAX_UNITS)
            title = f"First layer ({name}: {type(module).__name__}), {shown} of {len(filters)} units"
            return plot_filters(filters, path, title, max_units=MAX_UNITS)
    raise ValueError(f"{type(model).__name__} has no Linear or Conv2d layer whose weights could be drawn")
