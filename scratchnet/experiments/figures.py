"""Figures that compare several runs of one experiment (one run's own figures are in ``scratchnet.report``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..train.runfiles import MODEL
from .context import FinishedRun


def plot_runs(runs: dict[str, FinishedRun], path: Path, title: str, error: bool = False) -> Path:
    """Validation loss (left) and validation accuracy, or train/validation error when ``error``
    (right), per epoch, one line per run labelled by its key."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..report.plots import save_figure

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for label, run in runs.items():
        epochs = [row["epoch"] for row in run.history]
        line, = axes[0].plot(epochs, [row["val_loss"] for row in run.history], marker="o", markersize=3, label=label)
        if error:
            for split, style in (("train", "--"), ("val", "-")):
                axes[1].plot(epochs, [100 * (1 - row[f"{split}_accuracy"]) for row in run.history], style,
                             color=line.get_color(), label=f"{label} ({'validation' if split == 'val' else split})")
        else:
            axes[1].plot(epochs, [100 * row["val_accuracy"] for row in run.history], marker="o", markersize=3,
                         color=line.get_color(), label=label)
    for ax, ylabel in zip(axes, ("validation loss", "error (%)" if error else "validation accuracy (%)")):
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)  # epochs 1, 2, 3; never 1.2
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(frameon=False, fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)


def plot_first_layer(run: FinishedRun, path: Path, title: str) -> Path:
    """The first Linear/Conv2d layer's weights of a run's model drawn as images (up to 64 units)."""
    from ..report import first_layer_filters, plot_filters
    from ..train import load_model

    loaded = load_model(run.run_dir / MODEL)
    weight = next(p.data for p in loaded.model.parameters() if p.data.ndim in (2, 4))
    return plot_filters(first_layer_filters(weight, loaded.input_shape), path, title)


def plot_confusion(run: FinishedRun, path: Path) -> Path:
    """Counts and row-normalised heat maps of a run's test confusion matrix."""
    from ..report import plot_confusion as plot

    classes = [row["class"] for row in run.metrics["per_class"]]
    return plot(np.array(run.metrics["confusion_matrix"]), classes, path)
