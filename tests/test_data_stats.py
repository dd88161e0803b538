"""The statistics behind ``scratchnet explore``, checked against direct NumPy computations."""
import numpy as np

from scratchnet.data.stats import class_counts, pixel_stats


def test_pixel_stats_match_numpy_and_leave_constant_pixels_undefined():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (50, 3, 4, 5), dtype=np.uint8)
    x[:, :, 0, 0] = 9  # one pixel constant in every channel
    x[:, 1, 2, 2] = 0  # constant in one channel only: still varies overall
    y = rng.integers(0, 3, 50)
    stats = pixel_stats(x, y, num_classes=3)
    scaled = x / 255
    np.testing.assert_allclose(stats.mean, scaled.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(stats.variance, scaled.var(axis=0), atol=1e-12)
    np.testing.assert_allclose(stats.class_means[2], scaled[y == 2].mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(stats.channel_mean, scaled.mean(axis=(0, 2, 3)), atol=1e-12)
    np.testing.assert_allclose(stats.channel_std, scaled.std(axis=(0, 2, 3)), atol=1e-12)
    assert stats.constant.tolist() == (np.arange(20).reshape(4, 5) == 0).tolist()
    assert np.isnan(stats.label_correlation[0, 0])
    gray = x.mean(axis=1).reshape(50, -1)
    expected = [np.corrcoef(gray[:, p], y)[0, 1] for p in range(1, 20)]
    np.testing.assert_allclose(stats.label_correlation.ravel()[1:], expected, atol=1e-10)


def test_pixel_stats_work_in_chunks(monkeypatch):
    from scratchnet.data import stats as stats_module
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 256, (37, 1, 3, 3), dtype=np.uint8), rng.integers(0, 4, 37)
    whole = pixel_stats(x, y, 4)
    monkeypatch.setattr(stats_module, "_CHUNK", 5)
    chunked = pixel_stats(x, y, 4)
    np.testing.assert_allclose(chunked.label_correlation, whole.label_correlation, atol=1e-12)
    np.testing.assert_allclose(chunked.class_means, whole.class_means, atol=1e-12)
    assert class_counts(np.array([0, 2, 2]), 4).tolist() == [1, 0, 2, 0]
