"""The figures of a run's report, each saved as one PNG.

Every function takes plain arrays (no run directory, no model file) and a ``path``,
writes the PNG and returns the path, so notebooks can draw the same figures. Matplotlib
runs on its Agg backend: no display is needed.
"""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: the report is built on servers and in CI
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

DPI = 110
TRAIN_COLOUR, VAL_COLOUR, BEST_COLOUR = "#1f77b4", "#d62728", "#555555"
MAX_ANNOTATED_CLASSES = 20  # beyond this a confusion matrix's cells are too small for numbers


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    fig.savefig(path, dpi=DPI, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    return path


# -- training curves ------------------------------------------------------------------
def plot_curves(history: dict[str, np.ndarray], path: str | Path, best_epoch: int | None = None) -> Path:
    """Loss (left) and accuracy (right) per epoch, train and validation, best epoch marked.

    ``history`` maps the columns of ``history.csv`` (``epoch``, ``train_loss``,
    ``train_accuracy``, ``val_loss``, ``val_accuracy``) to float arrays of equal length;
    NaN marks a missing value (no validation split). Accuracies are fractions in [0, 1].
    """
    epochs = np.asarray(history["epoch"], dtype=float)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric, label in ((axes[0], "loss", "loss"), (axes[1], "accuracy", "accuracy (%)")):
        scale = 100.0 if metric == "accuracy" else 1.0
        for split, name, colour in (("train", "train", TRAIN_COLOUR), ("val", "validation", VAL_COLOUR)):
            values = np.asarray(history.get(f"{split}_{metric}", np.full_like(epochs, np.nan)), dtype=float)
            if np.isfinite(values).any():
                ax.plot(epochs, values * scale, marker="o", markersize=3, color=colour, label=name)
        if best_epoch:  # None or 0: no validation split, no best epoch
            ax.axvline(best_epoch, color=BEST_COLOUR, linestyle="--", linewidth=1, label=f"best epoch ({best_epoch})")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(metric.capitalize())
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(frameon=False)
    fig.tight_layout()
    return _save(fig, path)


# -- confusion matrix -----------------------------------------------------------------
def plot_confusion(matrix: np.ndarray, classes: list[str], path: str | Path) -> Path:
    """Two heat maps of the confusion matrix (rows = true class, columns = predicted):
    counts on the left, row-normalised (each row divided by its support) on the right."""
    counts = np.asarray(matrix, dtype=float)
    support = counts.sum(axis=1, keepdims=True)
    normalised = np.divide(counts, support, out=np.zeros_like(counts), where=support > 0)
    side = max(4.0, 0.42 * len(classes) + 1.8)
    fig, axes = plt.subplots(1, 2, figsize=(2 * side + 1.0, side))
    _heat_map(axes[0], counts, classes, "Counts", "d", "Blues")
    _heat_map(axes[1], normalised, classes, "Normalised by true class (recall on the diagonal)", ".2f", "Blues")
    fig.tight_layout()
    return _save(fig, path)


def _heat_map(ax, values: np.ndarray, classes: list[str], title: str, fmt: str, cmap: str) -> None:
    image = ax.imshow(values, cmap=cmap, vmin=0)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ticks = np.arange(len(classes))
    ax.set_xticks(ticks, labels=classes, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(ticks, labels=classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    if len(classes) > MAX_ANNOTATED_CLASSES:
        return
    # Light text on dark cells, dark text on light cells.
    threshold = values.max() / 2 if values.max() > 0 else 1.0
    fontsize = 9 if len(classes) <= 10 else 7
    for (row, col), value in np.ndenumerate(values):
        text = format(int(value), fmt) if fmt == "d" else format(value, fmt)
        ax.text(col, row, text, ha="center", va="center", fontsize=fontsize,
                color="white" if value > threshold else "black")


# -- misclassified examples ------------------------------------------------------------
def plot_mistakes(
    images: np.ndarray,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    probabilities: np.ndarray,
    classes: list[str],
    path: str | Path,
    max_images: int = 40,
    columns: int = 8,
) -> Path:
    """A grid of misclassified test images, the most confident mistakes first.

    ``images``: uint8 (N, C, H, W) with C = 1 (gray) or 3 (RGB), aligned with ``y_true``,
    ``y_pred`` (N,) and ``probabilities`` (N, classes). Each tile is titled with the
    true class, the predicted class and the probability given to the prediction.
    """
    images, y_true, y_pred = np.asarray(images), np.asarray(y_true), np.asarray(y_pred)
    if len(images) != len(y_true):
        raise ValueError(
            f"got {len(images)} test images for {len(y_true)} predictions; pass the test images "
            "the predictions were made on, in the same order"
        )
    wrong = np.flatnonzero(y_true != y_pred)
    confidence = np.asarray(probabilities)[np.arange(len(y_pred)), y_pred]
    shown = wrong[np.argsort(-confidence[wrong], kind="stable")][:max_images]
    if len(shown) == 0:
        fig = plt.figure(figsize=(6, 1.2))
        fig.text(0.5, 0.5, "No misclassified test images.", ha="center", va="center", fontsize=13)
        return _save(fig, path)
    cols = min(columns, len(shown))
    rows = math.ceil(len(shown) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.55 * cols, 1.95 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), shown):
        _show_image(ax, images[i])
        ax.set_title(f"true: {classes[y_true[i]]}\npred: {classes[y_pred[i]]} ({confidence[i]:.0%})",
                     fontsize=7.5, color="#a00000", loc="center")
    fig.suptitle(f"{len(wrong)} of {len(y_true)} test images misclassified; "
                 f"the {len(shown)} most confident mistakes", fontsize=11)
    fig.tight_layout()
    return _save(fig, path)


def _show_image(ax, image: np.ndarray) -> None:
    """Draw one (C, H, W) uint8 image: gray for one channel, colour for three."""
    if image.shape[0] == 1:
        ax.imshow(image[0], cmap="gray", vmin=0, vmax=255)
    else:
        ax.imshow(np.transpose(image[:3], (1, 2, 0)))


# -- first-layer weights -----------------------------------------------------------------
def first_layer_filters(weight: np.ndarray, input_shape: tuple[int, int, int]) -> np.ndarray:
    """The first layer's weights as images, (units, C, h, w).

    A Linear weight (out, C·H·W) reshapes each row to the input image (C, H, W): the
    pattern that unit responds to. A Conv2d weight (out, C, kh, kw) already is one
    kernel per output channel. Anything else raises ValueError.
    """
    weight = np.asarray(weight)
    if weight.ndim == 4:
        return weight
    if weight.ndim == 2 and weight.shape[1] == math.prod(input_shape):
        return weight.reshape(weight.shape[0], *input_shape)
    raise ValueError(
        f"cannot draw a first layer with weight shape {weight.shape} as images of the input "
        f"{tuple(input_shape)}: expected Linear (out, {math.prod(input_shape)}) or Conv2d (out, C, kh, kw)"
    )


def plot_filters(filters: np.ndarray, path: str | Path, title: str, max_units: int = 64) -> Path:
    """Draw up to ``max_units`` filters (units, C, h, w) as tiles.

    Three-channel filters are shown in colour, each scaled to [0, 1] on its own range;
    other filters show their channels' mean on a diverging map (blue negative, red
    positive) centred on zero, each tile on its own symmetric scale, so the pattern of
    every unit is visible however large its weights.
    """
    filters = np.asarray(filters, dtype=np.float32)[:max_units]
    count = len(filters)
    cols = min(8, count)
    rows = math.ceil(count / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.3 * rows + 0.5), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for k, (ax, tile) in enumerate(zip(axes.ravel(), filters)):
        if tile.shape[0] == 3:
            low, high = tile.min(), tile.max()
            ax.imshow(np.transpose((tile - low) / max(high - low, 1e-12), (1, 2, 0)), interpolation="nearest")
        else:
            mean = tile.mean(axis=0)
            limit = max(float(np.abs(mean).max()), 1e-12)
            ax.imshow(mean, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set_title(str(k), fontsize=7, pad=2)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return _save(fig, path)
