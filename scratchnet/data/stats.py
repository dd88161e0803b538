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

    @property
    def channel_mean(self) -> np.ndarray:
        """(C,) mean of x/255 over images and pixels."""
        return self.mean.mean(axis=(1, 2))

    @property
    def channel_std(self) -> np.ndarray:
        """(C,) standard deviation over images and pixels: E[x²] over pixels, minus the squared mean."""
        second_moment = (self.variance + self.mean**2).mean(axis=(1, 2))
        return np.sqrt(np.maximum(second_moment - self.channel_mean**2, 0))


def class_counts(y: np.ndarray, num_classes: int) -> np.ndarray:
    return np.bincount(y, minlength=num_classes)


def pixel_stats(x: np.ndarray, y: np.ndarray, num_classes: int) -> PixelStats:
    """One chunked pass over uint8 images x (N, C, H, W) with int labels y (N,).

    Per chunk it accumulates the per-class pixel sums S_k (one matrix product) and the
    sums of squares; everything else follows from them: Σx = Σ_k S_k and
    Σx·y = Σ_k k·S_k, which with Σx² give the means, variances and
    r = (E[xy] − E[x]E[y]) / (σ_x σ_y).
    """
    n, c, h, w = x.shape
    class_sums = np.zeros((num_classes, c * h * w))
    sq_sums = np.zeros(c * h * w)
    gray_sq_sums = np.zeros(h * w)
    for start in range(0, n, _CHUNK):
        xb = x[start:start + _CHUNK].reshape(-1, c * h * w).astype(np.float64)  # raw 0..255; scaled at the end
        class_sums += one_hot(y[start:start + _CHUNK], num_classes, np.float64).T @ xb
        sq_sums += np.einsum("ij,ij->j", xb, xb)
        if c > 1:
            gray = xb.reshape(-1, c, h * w).mean(axis=1)
            gray_sq_sums += np.einsum("ij,ij->j", gray, gray)
    sums = class_sums.sum(axis=0)
    mean = sums / (255 * n)
    variance = np.maximum(sq_sums / (255**2 * n) - mean**2, 0)

    gray_sums = sums.reshape(c, h * w).mean(axis=0)
    gray_xy = np.arange(num_classes) @ class_sums.reshape(num_classes, c, h * w).mean(axis=1)
    gray_mean = gray_sums / n
    gray_var = np.maximum((gray_sq_sums if c > 1 else sq_sums) / n - gray_mean**2, 0)
    constant = np.all(x.min(axis=0) == x.max(axis=0), axis=0).ravel()  # exact, on the bytes
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = (gray_xy / n - gray_mean * y.mean()) / np.sqrt(gray_var * y.var())
    corr[constant] = np.nan
    counts = np.maximum(class_counts(y, num_classes), 1)[:, None]
    return PixelStats(
        mean=mean.reshape(c, h, w),
        variance=variance.reshape(c, h, w),
        class_means=(class_sums / (255 * counts)).reshape(num_classes, c, h, w),
        label_correlation=corr.reshape(h, w),
        constant=constant.reshape(h, w),
    )
