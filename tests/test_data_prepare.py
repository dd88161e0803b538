"""Preprocessing, one-hot labels, splits, subsets, batches and augmentation."""
import json

import numpy as np
import pytest

from scratchnet import data


def images(n=60, c=1, h=6, w=5, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, c, h, w), dtype=np.uint8)


def labels(n=60, k=3, seed=0):
    return np.random.default_rng(seed + 1).integers(0, k, n).astype(np.int64)


def test_none_and_scale_preprocessing():
    x = images()
    np.testing.assert_array_equal(data.Preprocess.fit(x, kind="none")(x), x.astype(np.float32))
    scaled = data.Preprocess.fit(x, kind="scale")(x)
    assert scaled.dtype == np.float32 and scaled.shape == x.shape
    np.testing.assert_allclose(scaled, x / 255, rtol=1e-6)


def test_zscore_uses_per_channel_training_statistics_only():
    train, test = images(c=3, seed=0), images(c=3, seed=5) // 2  # the test split has other statistics
    train[:, 2] //= 4  # channels differ
    prep = data.Preprocess.fit(train, kind="zscore")
    expected_mean = (train / 255).mean(axis=(0, 2, 3))
    np.testing.assert_allclose(prep.mean, expected_mean, rtol=1e-12)
    np.testing.assert_allclose(prep.std, (train / 255).std(axis=(0, 2, 3)), rtol=1e-12)
    z_train = prep(train)
    assert z_train.dtype == np.float32
    np.testing.assert_allclose(z_train.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(z_train.std(axis=(0, 2, 3)), 1, atol=1e-5)
    expected_test = (test / 255 - expected_mean[None, :, None, None]) / np.array(prep.std)[None, :, None, None]
    np.testing.assert_allclose(prep(test), expected_test, atol=1e-5)


def test_zscore_round_trips_through_json_and_checks_channels():
    prep = data.Preprocess.fit(images(c=3), kind="zscore")
    again = data.Preprocess.from_dict(json.loads(json.dumps(prep.to_dict())))
    x = images(n=4, c=3, seed=9)
    np.testing.assert_array_equal(again(x), prep(x))
    with pytest.raises(ValueError, match="images have 1 channels but the z-score was fitted on 3"):
        prep(images(c=1))


def test_constant_channel_is_not_divided_by_zero():
    prep = data.Preprocess.fit(np.full((4, 1, 3, 3), 7, np.uint8))
    np.testing.assert_allclose(prep(np.full((1, 1, 3, 3), 7, np.uint8)), 0, atol=1e-6)


@pytest.mark.parametrize("call, problem", [
    (lambda: data.Preprocess("whiten"), "unknown preprocessing 'whiten'"),
    (lambda: data.Preprocess("zscore"), "use Preprocess.fit"),
    (lambda: data.Preprocess.fit(images().astype(np.float32)), "uint8"),
    (lambda: data.Preprocess("scale")(np.zeros((3, 4), np.uint8)), r"\(N, C, H, W\)"),
])
def test_preprocess_errors(call, problem):
    with pytest.raises(ValueError, match=problem):
        call()


def test_one_hot():
    out = data.one_hot(np.array([2, 0, 1]), 3)
    np.testing.assert_array_equal(out, [[0, 0, 1], [1, 0, 0], [0, 1, 0]])
    assert out.dtype == np.float32 and data.one_hot(np.array([1]), 2, dtype=np.float64).dtype == np.float64
    with pytest.raises(ValueError, match="labels in 0..2"):
        data.one_hot(np.array([3]), 3)


def test_split_is_seeded_disjoint_and_complete():
    x, y = images(n=100), labels(n=100)
    x_tr, y_tr, x_val, y_val = data.train_val_split(x, y, 20, seed=3)
    assert (len(x_tr), len(x_val)) == (80, 20)
    rows = lambda a: {r.tobytes() for r in a}  # noqa: E731
    assert rows(x_tr) | rows(x_val) == rows(x) and not rows(x_tr) & rows(x_val)
    again = data.train_val_split(x, y, 0.2, seed=3)  # a fraction means the same count
    np.testing.assert_array_equal(again[2], x_val)
    np.testing.assert_array_equal(again[3], y_val)
    assert not np.array_equal(data.train_val_split(x, y, 20, seed=4)[2], x_val)


def test_stratified_split_keeps_class_proportions():
    y = np.repeat(np.arange(4), [50, 30, 15, 5])
    x = np.arange(len(y), dtype=np.uint8).reshape(-1, 1, 1, 1)
    _, _, _, y_val = data.train_val_split(x, y, 20, seed=0, stratify=True)
    assert np.bincount(y_val).tolist() == [10, 6, 3, 1]
    _, y_sub = data.subset(x, y, 14, seed=1)
    assert np.bincount(y_sub, minlength=4).tolist() == [7, 4, 2, 1]  # quotas 7, 4.2, 2.1, 0.7: the largest remainder


@pytest.mark.parametrize("size, problem", [(0, "between 1 and 100"), (1.5, r"fraction must be in \(0, 1\)"),
                                           (100, "leaves no training examples")])
def test_split_rejects_bad_sizes(size, problem):
    with pytest.raises(ValueError, match=problem):
        data.train_val_split(images(n=100), labels(n=100), size, seed=0)


def test_subset_is_deterministic_and_keeps_order():
    x, y = images(n=100), labels(n=100)
    xs, ys = data.subset(x, y, 30, seed=2, stratify=False)
    np.testing.assert_array_equal(data.subset(x, y, 30, seed=2, stratify=False)[0], xs)
    positions = [next(i for i in range(100) if np.array_equal(x[i], row)) for row in xs]
    assert positions == sorted(positions) and len(set(positions)) == 30
    with pytest.raises(ValueError, match="x has 100 examples but y has 99"):
        data.subset(x, y[:99], 10)


def test_batches_shapes_dtypes_and_coverage():
    x, y = images(n=50), labels(n=50)
    prep = data.Preprocess.fit(x)
    it = data.Batches(x, y, 16, preprocess=prep, seed=1)
    batches = list(it.epoch(0))
    assert len(it) == len(batches) == 4 and [len(b) for _, b in batches] == [16, 16, 16, 2]
    assert all(xb.dtype == np.float32 and xb.shape[1:] == (1, 6, 5) and yb.dtype == np.int64 for xb, yb in batches)
    xs = np.concatenate([xb for xb, _ in batches])
    ys = np.concatenate([yb for _, yb in batches])
    order = np.lexsort(xs.reshape(50, -1).T)
    np.testing.assert_allclose(xs[order], prep(x)[np.lexsort(prep(x).reshape(50, -1).T)])  # each example once
    assert sorted(ys.tolist()) == sorted(y.tolist())
    assert len(data.Batches(x, y, 16, drop_last=True)) == 3


def test_batches_full_batch_size_one_and_no_shuffle():
    x, y = images(n=7), labels(n=7)
    (xb, yb), = list(data.Batches(x, y, 7, shuffle=False))
    np.testing.assert_array_equal(xb, x.astype(np.float32))
    np.testing.assert_array_equal(yb, y)
    assert [b.shape for b, _ in data.Batches(x, y, 1)] == [(1, 1, 6, 5)] * 7
    with pytest.raises(ValueError, match="batch_size must be between 1 and 7"):
        data.Batches(x, y, 8)


def test_epochs_repeat_exactly_after_a_resume():
    x, y = images(n=40), labels(n=40)
    make = lambda: data.Batches(x, y, 8, seed=5, augment=data.Augment(crop_padding=2))  # noqa: E731
    first = [list(make().epoch(e)) for e in range(3)]
    resumed = make()  # a fresh object starting at epoch 2, as after a restart
    for (xa, ya), (xb, yb) in zip(first[2], resumed.epoch(2)):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(first[0][0][1], first[1][0][1])  # another epoch, another order
    np.testing.assert_array_equal(next(iter(make()))[0], first[0][0][0])  # iterating = epoch 0


def test_augment_without_crop_or_flip_is_identity_and_flip_mirrors():
    x = images(n=32)
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(data.Augment(crop_padding=0, hflip=False)(x, rng), x)
    flipped = data.Augment(crop_padding=0, hflip=True)(x, np.random.default_rng(1))
    mirrored = [np.array_equal(f, a[..., ::-1]) for f, a in zip(flipped, x)]
    kept = [np.array_equal(f, a) for f, a in zip(flipped, x)]
    assert all(m or k for m, k in zip(mirrored, kept)) and 0 < sum(mirrored) < 32


def test_augment_crop_is_a_window_of_the_zero_padded_image():
    x = images(n=16, c=3, h=8, w=8)
    out = data.Augment(crop_padding=2, hflip=False)(x, np.random.default_rng(3))
    assert out.shape == x.shape and out.dtype == np.uint8
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    offsets = []
    for o, p in zip(out, padded):
        matches = [(i, j) for i in range(5) for j in range(5) if np.array_equal(p[:, i:i + 8, j:j + 8], o)]
        assert matches
        offsets.append(matches[0])
    assert len(set(offsets)) > 1  # offsets are drawn per image
