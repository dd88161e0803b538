"""Preparing arrays for training: scaling, z-score, one-hot labels, seeded splits and subsets.

Images stay uint8 (N, C, H, W) until a batch is made; ``Preprocess`` turns any uint8 batch
into float32 with statistics fitted on the training split only (SEEDS.md 003).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KINDS = ("none", "scale", "zscore")


def _check_images(x: np.ndarray) -> None:
    if x.ndim != 4:
        raise ValueError(f"expected images of shape (N, C, H, W), got shape {x.shape}")


def channel_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of x/255 (float64), exact and without a float copy.

    The values are bytes, so a 256-bin histogram per channel gives both moments exactly:
    mean = Σ v·h(v) / n, var = Σ (v − mean)²·h(v) / n.
    """
    _check_images(x)
    if x.dtype != np.uint8:
        raise ValueError(f"Preprocess.fit takes the uint8 images, got dtype {x.dtype}")
    values = np.arange(256, dtype=np.float64) / 255
    means, stds = [], []
    for c in range(x.shape[1]):
        hist = np.bincount(x[:, c].ravel(), minlength=256)
        mean = hist @ values / hist.sum()
        means.append(mean)
        stds.append(np.sqrt(hist @ (values - mean) ** 2 / hist.sum()))
    return np.array(means), np.array(stds)


@dataclass
class Preprocess:
    """uint8 images -> float32 images of the same shape.

    ``"none"``: the raw values 0…255; ``"scale"``: x/255 in [0, 1];
    ``"zscore"``: (x/255 − mean_c) / std_c with per-channel statistics of the data given
    to ``fit`` (the training split). Applied as one multiply-add: x·a_c + b_c.
    """

    kind: str = "scale"
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown preprocessing {self.kind!r}; choose one of {', '.join(KINDS)}")
        if self.kind == "zscore" and (not self.mean or len(self.mean) != len(self.std) or min(self.std) <= 0):
            raise ValueError("zscore needs one mean and one positive std per channel: use Preprocess.fit(x_train)")
        self.mean, self.std = tuple(map(float, self.mean)), tuple(map(float, self.std))

    @classmethod
    def fit(cls, x_train: np.ndarray, kind: str = "zscore") -> "Preprocess":
        """Fit on the training images (uint8, N×C×H×W); only ``"zscore"`` needs statistics."""
        if kind != "zscore":
            return cls(kind)
        mean, std = channel_stats(x_train)
        std[std == 0] = 1.0  # a constant channel stays constant (0) instead of dividing by zero
        return cls(kind, tuple(mean), tuple(std))

    def _zscore_affine(self, channels: int) -> tuple[np.ndarray, np.ndarray]:
        """a_c = 1/(255·std_c), b_c = −mean_c/std_c, shaped (1, C, 1, 1) to broadcast over a batch."""
        if channels != len(self.mean):
            raise ValueError(f"images have {channels} channels but the z-score was fitted on {len(self.mean)}")
        std, mean = np.array(self.std), np.array(self.mean)
        return ((1 / (255 * std)).astype(np.float32).reshape(1, -1, 1, 1),
                (-mean / std).astype(np.float32).reshape(1, -1, 1, 1))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        _check_images(x)
        out = x.astype(np.float32)
        if self.kind == "scale":
            out *= np.float32(1 / 255)
        elif self.kind == "zscore":
            scale, shift = self._zscore_affine(x.shape[1])
            out *= scale
            out += shift
        return out

    def to_dict(self) -> dict:
        return {"kind": self.kind, "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocess":
        return cls(d["kind"], tuple(d.get("mean", ())), tuple(d.get("std", ())))


def one_hot(y: np.ndarray, num_classes: int, dtype=np.float32) -> np.ndarray:
    """(N,) integer labels -> (N, num_classes) with a 1 in each row's label column."""
    y = np.asarray(y)
    if y.ndim != 1 or (y.size and (y.min() < 0 or y.max() >= num_classes)):
        raise ValueError(f"one_hot needs (N,) labels in 0..{num_classes - 1}, got shape {y.shape}")
    out = np.zeros((len(y), num_classes), dtype=dtype)
    out[np.arange(len(y)), y] = 1
    return out


def _count(size: int | float, n: int, what: str) -> int:
    """An int count, or a float fraction of n, checked to be within 0 < count < n (≤ n for subsets)."""
    count = round(size * n) if isinstance(size, float) else int(size)
    if isinstance(size, float) and not 0 < size < 1:
        raise ValueError(f"{what} as a fraction must be in (0, 1), got {size}")
    if not 0 < count <= n:
        raise ValueError(f"{what} must be between 1 and {n} (the number of examples), got {size}")
    return count


def _pick(y: np.ndarray, k: int, rng: np.random.Generator, stratify: bool) -> np.ndarray:
    """k sorted indices drawn without replacement; stratified = each class in proportion.

    Class c gets ⌊k·n_c/n⌋ and the remaining picks go to the largest remainders, so the
    counts sum to exactly k.
    """
    n = len(y)
    if not stratify:
        return np.sort(rng.permutation(n)[:k])
    classes, counts = np.unique(y, return_counts=True)
    quota = counts * k / n
    take = np.floor(quota).astype(np.int64)
    take[np.argsort(take - quota, kind="stable")[: k - take.sum()]] += 1
    picked = [rng.permutation(np.flatnonzero(y == c))[:t] for c, t in zip(classes, take)]
    return np.sort(np.concatenate(picked))


def _check_pair(x: np.ndarray, y: np.ndarray) -> None:
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} examples but y has {len(y)} labels")


def train_val_split(x: np.ndarray, y: np.ndarray, val_size: int | float, seed: int = 0, stratify: bool = False):
    """(x_train, y_train, x_val, y_val): a seeded random split (as ``random_split`` in SEEDS.md 002).

    ``val_size`` is a count (10_000) or a fraction (0.2). The same seed gives the same split.
    """
    _check_pair(x, y)
    k = _count(val_size, len(x), "val_size")
    if k == len(x):
        raise ValueError(f"val_size {val_size} leaves no training examples out of {len(x)}")
    val = _pick(y, k, np.random.default_rng(seed), stratify)
    train = np.setdiff1d(np.arange(len(x)), val, assume_unique=True)
    return x[train], y[train], x[val], y[val]


def subset(x: np.ndarray, y: np.ndarray, n: int, seed: int = 0, stratify: bool = True):
    """(x, y) reduced to n examples drawn with a seed, in their original order, for quick runs."""
    _check_pair(x, y)
    keep = _pick(y, _count(n, len(x), "subset size"), np.random.default_rng(seed), stratify)
    return x[keep], y[keep]
