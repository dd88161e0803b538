"""Mini-batches made on the fly from uint8 images, shuffled and augmented reproducibly per epoch.

Only one batch is ever float32: its uint8 rows are gathered with one fancy index,
augmented (still uint8) and converted by one preprocessing op, so CIFAR-10 (150 MB as
uint8, 600 MB as float32) is never expanded at once.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from .augment import Compose
from .prepare import Preprocess


class Batches:
    """Iterate (x float32 (B, C, H, W), y int64 (B,)) batches over uint8 images.

    Epoch e is shuffled and augmented with a generator seeded by (seed, e), so it is the
    same batch for batch whether or not training was interrupted and resumed. Iterating
    the object itself gives epoch 0. ``batch_size`` may be anything from 1 to len(x)
    (full batch); the last short batch is kept unless ``drop_last``.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, preprocess: Preprocess | None = None,
                 shuffle: bool = True, seed: int = 0, augment: Compose | None = None, drop_last: bool = False):
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
