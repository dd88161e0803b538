"""Figures of how a run trained: the augmented samples the network saw and the learning rate per epoch.

``augmented_samples(images, config)`` draws what the training augmentation (and batch mix)
of a TrainConfig makes of some images; ``plot_augmented`` lays the originals and those draws
out as a grid; ``plot_learning_rate`` draws history.csv's ``lr`` column.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from ..data.augment import build_augment
from .plots import TRAIN_COLOUR, _tile_figure, _to_rgb, save_figure

SAMPLE_SEED = 0  # the grid is the same every time the report is written


def augmented_samples(images: np.ndarray, config, draws: int = 3, seed: int = SAMPLE_SEED) -> list[np.ndarray]:
    """``draws`` augmented versions of uint8 ``images`` (N, C, H, W) under ``config``'s augmentation
    (its ``augment`` and settings), each uint8 (N, C, H, W); a batch mix is applied to the whole
    batch of images, as in training. Empty when the config augments nothing."""
    augment, mix = build_augment(config.augment, config)
    if augment is None and mix is None:
        return []
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(draws):
        x = augment(images, rng) if augment is not None else images
        if mix is not None:
            x = np.clip(np.rint(mix(x.astype(np.float32), rng).x), 0, 255).astype(np.uint8)
        out.append(x)
    return out


def plot_augmented(images: np.ndarray, draws: list[np.ndarray], path: str | Path, description: str) -> Path:
    """A grid: the first row the original uint8 (N, C, H, W) ``images``, each further row one draw
    of their augmented versions; ``description`` (the augmentation) titles it."""
    tiles = np.stack([_to_rgb(image) for row in (images, *draws) for image in row])
    captions = ["original"] * len(images) + [f"draw {k}" for k in range(1, len(draws) + 1) for _ in images]
    title = f"What the network sees: {description} (first row: the images as stored)"
    return save_figure(_tile_figure(tiles, captions, title, columns=len(images)), path)


def plot_learning_rate(history: dict[str, np.ndarray], path: str | Path, per_step: list[float] | None = None,
                       steps_per_epoch: int | None = None) -> Path:
    """The learning rate over the epochs: ``per_step`` (one rate per optimiser step, drawn as a line
    against fractional epochs) when given, and history.csv's rate at the start of each epoch
    (dots); a log scale when the rates span a decade."""
    epochs = np.asarray(history["epoch"], dtype=float)
    lr = np.asarray(history["lr"], dtype=float)
    fig, ax = plt.subplots(figsize=(7, 3))
    if per_step is not None and steps_per_epoch:
        x = 1 + np.arange(len(per_step)) / steps_per_epoch
        ax.plot(x, per_step, color=TRAIN_COLOUR, linewidth=1.5, label="every step")
    ax.plot(epochs, lr, "o", markersize=4, color=TRAIN_COLOUR, label="start of each epoch (history.csv)")
    every = np.concatenate([lr, per_step or []])
    if every.size and every.min() > 0 and every.max() / every.min() >= 10:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    ax.set_title("Learning rate")
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    return save_figure(fig, path)
