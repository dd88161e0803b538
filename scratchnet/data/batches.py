"""Mini-batches made on the fly from uint8 images, shuffled and augmented reproducibly per epoch.

Only one batch is ever float32: its uint8 rows are gathered with one fancy index,
augmented (still uint8) and converted by one preprocessing op, so CIFAR-10 (150 MB as
uint8, 600 MB as float32) is never expanded at once.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from .prepare import Preprocess


class Augment:
    """Random crop with zero padding and random horizontal flip, vectorised over a batch.

    Each image is padded by ``crop_padding`` pixels on every side, a random H×W window is
    cut out of it (offsets uniform in 0…2·padding) and, with ``hflip``, mirrored left-right
    with probability 1/2: the usual CIFAR-10 augmentation. Both are one gather per batch.
    """

    def __init__(self, crop_padding: int = 4, hflip: bool = True):
        if crop_padding < 0:
            raise ValueError(f"crop_padding must be >= 0, got {crop_padding}")
        self.crop_padding, self.hflip = crop_padding, hflip

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(B, C, H, W) -> augmented (B, C, H, W), same dtype, drawing from ``rng``."""
        b, c, h, w = x.shape
        p = self.crop_padding
        padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        windows = np.lib.stride_tricks.sliding_window_view(padded, (h, w), axis=(2, 3))  # (B, C, 2p+1, 2p+1, H, W)
        top = rng.integers(0, 2 * p + 1, size=b)
        left = rng.integers(0, 2 * p + 1, size=b)
        out = windows[np.arange(b), :, top, left]  # one gather: (B, C, H, W)
        if self.hflip:
            flip = rng.random(b) < 0.5
            out[flip] = out[flip, :, :, ::-1]
        return out

    def __repr__(self) -> str:
        return f"Augment(crop_padding={self.crop_padding}, hflip={self.hflip})"


class Batches:
    """Iterate (x float32 (B, C, H, W), y int64 (B,)) batches over uint8 images.

    Epoch e is shuffled and augmented with a generator seeded by (seed, e), so it is the
    same batch for batch whether or not training was interrupted and resumed. Iterating
    the object itself gives epoch 0. ``batch_size`` may be anything from 1 to len(x)
    (full batch); the last short batch is kept unless ``drop_last``.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, preprocess: Preprocess | None = None,
                 shuffle: bool = True, seed: int = 0, augment: Augment | None = None, drop_last: bool = False):
        if x.ndim != 4:
            raise ValueError(f"Batches takes images (N, C, H, W), got shape {x.shape}")
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} examples but y has {len(y)} labels")
        if not 1 <= batch_size <= len(x):
            raise ValueError(f"batch_size must be between 1 and {len(x)} (the number of examples), got {batch_size}")
        self.x, self.y = x, np.asarray(y, dtype=np.int64)
        self.batch_size, self.shuffle, self.seed, self.drop_last = batch_size, shuffle, seed, drop_last
        self.preprocess = preprocess if preprocess is not None else Preprocess("none")
        self.augment = augment

    def __len__(self) -> int:
        full, rest = divmod(len(self.x), self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def epoch(self, e: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        rng = np.random.default_rng([self.seed, e])
        order = rng.permutation(len(self.x)) if self.shuffle else np.arange(len(self.x))
        for i in range(len(self)):
            idx = order[i * self.batch_size:(i + 1) * self.batch_size]
            xb = self.x[idx]
            if self.augment is not None:
                xb = self.augment(xb, rng)
            yield self.preprocess(xb), self.y[idx]

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return self.epoch(0)
