"""The PNGs of ``scratchnet explore``: class counts, sample images, class means, pixel variance,
and the pixel-label correlation map (SEEDS.md 002, 003). Drawn with matplotlib's Agg backend."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from .plots import save_figure  # noqa: E402

UNDEFINED_COLOUR = "#f5c400"  # constant pixels: not a value of the diverging colour map


def class_counts(counts: dict[str, np.ndarray], classes: list[str], title: str, path: Path) -> Path:
    """Grouped bars: the number of examples of each class in each split."""
    fig, ax = plt.subplots(figsize=(max(6.0, 0.75 * len(classes)), 4))
    width = 0.8 / len(counts)
    largest = max(int(v.max()) for v in counts.values())
    positions = np.arange(len(classes))
    for i, (split, values) in enumerate(counts.items()):
        bars = ax.bar(positions + (i - (len(counts) - 1) / 2) * width, values, width, label=f"{split} ({values.sum():,})")
        ax.bar_label(bars, labels=[_count_label(v, largest) for v in values], fontsize=7.5, padding=2)
    ax.set_xticks(positions, classes, rotation=30, ha="right")
    ax.set_ylabel("examples")
    ax.set_ylim(0, 1.25 * largest)
    ax.set_title(f"{title}: examples per class")
    ax.legend(loc="upper center", ncol=len(counts), frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return save_figure(fig, path)


def _count_label(value: int, largest: int) -> str:
    """A bar's count, upright and short enough for its bar: "6,000", or "12.5k" from 10,000 up."""
    return f"{value / 1000:.1f}k" if largest >= 10_000 else f"{value:,}"


def _mosaic(images: np.ndarray, labels: list[str], cols: int, title: str, path: Path, vmax: float) -> Path:
    """Images (N, C, H, W) tiled into one picture, each with its label above it.

    One ``imshow`` of the tiled array instead of a subplot per image keeps this fast.
    """
    n, c, h, w = images.shape
    rows = -(-n // cols)
    gap, label_room = max(2, w // 10), max(8, h // 3)
    cell_h, cell_w = h + gap + label_room, w + gap
    canvas = np.full((rows * cell_h, cols * cell_w, c), np.nan)
    for i, image in enumerate(images):
        top, left = (i // cols) * cell_h + label_room, (i % cols) * cell_w
        canvas[top:top + h, left:left + w] = np.moveaxis(image, 0, -1) / vmax
    fig, ax = plt.subplots(figsize=(cols * cell_w / 22, rows * cell_h / 22))
    cmap = plt.get_cmap("gray").with_extremes(bad="white")
    ax.imshow(canvas[..., 0] if c == 1 else np.nan_to_num(canvas, nan=1.0), cmap=cmap, vmin=0, vmax=1,
              interpolation="nearest")
    for i, label in enumerate(labels):
        ax.text((i % cols) * cell_w + w / 2, (i // cols) * cell_h + label_room - 1.5, label,
                ha="center", va="bottom", fontsize=8)
    ax.set_title(title)
    ax.axis("off")
    return save_figure(fig, path)


def sample_grid(x: np.ndarray, y: np.ndarray, classes: list[str], title: str, path: Path,
                seed: int = 0, count: int = 40, cols: int = 8) -> Path:
    """A grid of random images (drawn with ``seed``), each labelled with its class name."""
    picks = np.sort(np.random.default_rng(seed).choice(len(x), size=min(count, len(x)), replace=False))
    return _mosaic(x[picks], [classes[k] for k in y[picks]], cols,
                   f"{title}: random training images (seed {seed})", path, vmax=255)


def class_means(means: np.ndarray, classes: list[str], title: str, path: Path) -> Path:
    """The mean image of each class, (K, C, H, W) in [0, 1]."""
    return _mosaic(means, list(classes), min(5, len(classes)), f"{title}: mean training image per class", path, vmax=1)


def pixel_variance(variance: np.ndarray, title: str, path: Path) -> Path:
    """Per-pixel variance of x/255 over the training set, averaged over channels, (C, H, W)."""
    fig, ax = plt.subplots(figsize=(4.8, 4))
    shown = ax.imshow(variance.mean(axis=0), cmap="viridis", interpolation="nearest")
    fig.colorbar(shown, ax=ax, label="variance of x/255")
    ax.set_title(f"{title}: per-pixel variance (train)")
    ax.axis("off")
    return save_figure(fig, path)


def label_correlation(corr: np.ndarray, constant: np.ndarray, title: str, path: Path) -> Path:
    """Pearson r of each pixel with the label index; constant pixels (r undefined) in their own colour."""
    cmap = plt.get_cmap("coolwarm").with_extremes(bad=UNDEFINED_COLOUR)
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    limit = float(np.nanmax(np.abs(corr))) if np.isfinite(corr).any() else 1.0
    shown = ax.imshow(np.ma.masked_invalid(corr), cmap=cmap, vmin=-limit, vmax=limit, interpolation="nearest")
    fig.colorbar(shown, ax=ax, label="Pearson r (pixel, label index)")
    n_const = int(constant.sum())
    ax.legend(handles=[Patch(color=UNDEFINED_COLOUR, label=f"constant pixel: r undefined ({n_const:,} of {constant.size:,})")],
              loc="upper center", bbox_to_anchor=(0.5, -0.02), fontsize=8, frameon=False)
    ax.set_title(f"{title}: pixel-label correlation (train)")
    ax.axis("off")
    return save_figure(fig, path)
