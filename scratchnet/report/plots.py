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

from ..train.runfiles import atomic_file  # noqa: E402

DPI = 110
TRAIN_COLOUR, VAL_COLOUR, BEST_COLOUR = "#1f77b4", "#d62728", "#555555"
MAX_ANNOTATED_CLASSES = 20  # beyond this a confusion matrix's cells are too small for numbers
DIVERGING = matplotlib.colormaps["RdBu_r"]  # weights: blue negative, white zero, red positive


def save_figure(fig: Figure, path: str | Path, dpi: int = DPI) -> Path:
    """Write ``fig`` as a PNG on white (atomically, see ``runfiles.atomic_file``) and free it."""
    path = Path(path)
    try:
        with atomic_file(path) as f:
            fig.savefig(f, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    finally:
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
    return save_figure(fig, path)


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
    return save_figure(fig, path)


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
        return save_figure(fig, path)
    tiles = np.stack([_to_rgb(images[i]) for i in shown])
    captions = [f"true: {classes[y_true[i]]}\npred: {classes[y_pred[i]]} ({confidence[i]:.0%})" for i in shown]
    title = f"{len(wrong):,} of {len(y_true):,} test images misclassified; the {len(shown)} most confident mistakes"
    return save_figure(_tile_figure(tiles, captions, title, columns, caption_colour="#a00000"), path)


def _to_rgb(image: np.ndarray) -> np.ndarray:
    """One (C, H, W) uint8 image -> (H, W, 3) floats in [0, 1]: gray repeated, or its colour."""
    rgb = np.repeat(image[:1], 3, axis=0) if image.shape[0] == 1 else image[:3]
    return np.transpose(rgb, (1, 2, 0)).astype(np.float32) / 255.0


# -- tile grids -----------------------------------------------------------------------
TILE_PIXELS = 56  # tiles are enlarged (nearest neighbour) to about this side
TILE_INCHES = 1.4
GAP_PIXELS = 6


def _tile_figure(tiles: np.ndarray, captions: list[str], title: str, columns: int,
                 caption_colour: str = "black", legend: str = "") -> Figure:
    """Tiles (n, h, w, 3) in [0, 1] in rows of ``columns`` on white, each under its caption;
    ``legend``, if given, is a line under the title saying how to read the colours.

    Drawn as one image on one axes (dozens of small axes would take seconds to lay out);
    captions are placed in the image's pixel coordinates.
    """
    n, height, width, _ = tiles.shape
    zoom = max(1, round(TILE_PIXELS / max(height, width)))
    tiles = tiles.repeat(zoom, axis=1).repeat(zoom, axis=2)
    height, width = height * zoom, width * zoom
    lines = max(caption.count("\n") + 1 for caption in captions)
    caption_px = round(0.16 * lines * max(height, width))  # room for the caption's lines above each tile
    cell_h, cell_w = caption_px + height + GAP_PIXELS, width + GAP_PIXELS
    columns = min(columns, n)
    rows = math.ceil(n / columns)
    canvas = np.ones((rows * cell_h, columns * cell_w - GAP_PIXELS, 3), dtype=np.float32)
    inches_per_px = TILE_INCHES / max(height, width)
    top_room = 0.45 + (0.3 if legend else 0)  # inches above the tiles: the title, then the legend
    fig = plt.figure(figsize=(canvas.shape[1] * inches_per_px, canvas.shape[0] * inches_per_px + top_room))
    ax = fig.add_axes((0, 0, 1, canvas.shape[0] * inches_per_px / fig.get_figheight()))
    for k, (tile, caption) in enumerate(zip(tiles, captions)):
        top, left = (k // columns) * cell_h + caption_px, (k % columns) * cell_w
        canvas[top:top + height, left:left + width] = tile
        ax.text(left + width / 2, top - 2, caption, ha="center", va="bottom", fontsize=7.5, color=caption_colour)
    ax.imshow(canvas, interpolation="nearest")
    ax.axis("off")
    fig.suptitle(title, fontsize=11, y=1.0, va="top")
    if legend:
        fig.text(0.5, 1 - 0.34 / fig.get_figheight(), legend, ha="center", va="top", fontsize=8, color="#444")
    return fig


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
    tiles = np.stack([_filter_to_rgb(f) for f in filters])
    legend = ("colour: each filter's own weights, stretched to its range" if filters.shape[1] == 3 else
              "red: positive weight   white: 0   blue: negative (each tile scaled to its largest |weight|)")
    return save_figure(_tile_figure(tiles, [str(k) for k in range(len(tiles))], title, columns=8, legend=legend),
                       path)


def _filter_to_rgb(weights: np.ndarray) -> np.ndarray:
    """One filter (C, h, w) -> (h, w, 3) in [0, 1]: colour if C = 3, else the diverging map."""
    if weights.shape[0] == 3:
        low, high = weights.min(), weights.max()
        return np.transpose((weights - low) / max(high - low, 1e-12), (1, 2, 0))
    mean = weights.mean(axis=0)
    limit = max(float(np.abs(mean).max()), 1e-12)
    return DIVERGING(0.5 + 0.5 * mean / limit)[..., :3].astype(np.float32)
