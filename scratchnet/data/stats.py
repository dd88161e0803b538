"""Data analysis for ``scratchnet explore`` (SEEDS.md 002, 003): counts, means, variances, correlations.

Everything is accumulated in one pass over row chunks in float64, so the full training
set of any dataset is analysed without a float copy of it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .prepare import one_hot

_CHUNK = 8192


@dataclass
class PixelStats:
    """Per-pixel statistics of images x/255 (N, C, H, W) with labels y.

    ``mean`` and ``variance`` are (C, H, W); ``class_means`` is (K, C, H, W).
    ``label_correlation`` is (H, W): Pearson's r between the pixel (averaged over channels)
    and the label index, NaN where the pixel is constant over the data (``constant``),
    because r = cov / (σ_x σ_y) is undefined when σ_x = 0.
    """

    mean: np.ndarray
    variance: np.ndarray
    class_means: np.ndarray
    label_correlation: np.ndarray
    constant: np.ndarray


def class_counts(y: np.ndarray, num_classes: int) -> np.ndarray:
    return np.bincount(y, minlength=num_classes)


def pixel_stats(x: np.ndarray, y: np.ndarray, num_classes: int) -> PixelStats:
    n, c, h, w = x.shape
    s1 = np.zeros(c * h * w)
    s2 = np.zeros(c * h * w)
    gray_s1, gray_s2, gray_sy = np.zeros(h * w), np.zeros(h * w), np.zeros(h * w)
    class_sums = np.zeros((num_classes, c * h * w))
    for start in range(0, n, _CHUNK):
        xb = x[start:start + _CHUNK].reshape(-1, c * h * w).astype(np.float64) / 255
        yb = y[start:start + _CHUNK]
        s1 += xb.sum(axis=0)
        s2 += np.einsum("ij,ij->j", xb, xb)
        class_sums += one_hot(yb, num_classes, np.float64).T @ xb
        gray = xb if c == 1 else xb.reshape(-1, c, h * w).mean(axis=1)
        gray_s1 += gray.sum(axis=0)
        gray_s2 += np.einsum("ij,ij->j", gray, gray)
        gray_sy += yb.astype(np.float64) @ gray
    mean = s1 / n
    variance = np.maximum(s2 / n - mean**2, 0)
    gray_mean = gray_s1 / n
    gray_var = np.maximum(gray_s2 / n - gray_mean**2, 0)
    y_mean, y_var = y.mean(), y.var()
    constant = np.all(x.min(axis=0) == x.max(axis=0), axis=0).ravel()  # exact, on the bytes
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = (gray_sy / n - gray_mean * y_mean) / np.sqrt(gray_var * y_var)
    corr[constant] = np.nan
    counts = np.maximum(class_counts(y, num_classes), 1)[:, None]
    return PixelStats(
        mean=mean.reshape(c, h, w),
        variance=variance.reshape(c, h, w),
        class_means=(class_sums / counts).reshape(num_classes, c, h, w),
        label_correlation=corr.reshape(h, w),
        constant=constant.reshape(h, w),
    )
