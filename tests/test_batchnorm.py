"""BatchNorm1d/2d: finite-difference gradients, running statistics, modes, state and errors."""
import numpy as np
import pytest
from gradcheck import check_module_grads

from scratchnet.nn import BatchNorm1d, BatchNorm2d


def batch(shape, seed=0, dtype=np.float32):
    return (np.random.default_rng(seed).standard_normal(shape) * 2 + 1).astype(dtype)


def randomise_affine(bn, seed=1):
    rng = np.random.default_rng(seed)
    bn.weight.data[:] = rng.uniform(0.5, 2.0, bn.num_features)
    bn.bias.data[:] = rng.standard_normal(bn.num_features)
    return bn


@pytest.mark.parametrize("bn, shape", [
    (BatchNorm1d(3), (5, 3)),
    (BatchNorm1d(2), (3, 2, 4)),
    (BatchNorm2d(2), (3, 2, 3, 2)),
    (BatchNorm2d(2, affine=False), (2, 2, 3, 3)),
    (BatchNorm2d(2, track_running_stats=False), (2, 2, 2, 3)),
])
def test_training_gradients_match_finite_differences(bn, shape):
    if bn.affine:
        randomise_affine(bn)
    check_module_grads(bn, batch(shape), atol=1e-5)


def channels_last(a):
    """The same values in channels-last memory (C varies fastest), as Conv2d returns them."""
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


@pytest.mark.parametrize("x_last, grad_last", [(True, True), (True, False), (False, True)])
def test_channels_last_inputs_give_the_channels_first_results(x_last, grad_last):
    x, g = batch((4, 3, 5, 6)), batch((4, 3, 5, 6), seed=2)
    results = []
    for layout_x, layout_g in ((np.ascontiguousarray, np.ascontiguousarray),
                               (channels_last if x_last else np.ascontiguousarray,
                                channels_last if grad_last else np.ascontiguousarray)):
        bn = randomise_affine(BatchNorm2d(3))
        y = bn(layout_x(x))
        dx = bn.backward(layout_g(g))
        bn.eval()
        results.append((y, dx, bn.weight.grad, bn.bias.grad, bn(layout_x(x))))
    for ours, reference in zip(*results):
        np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-6)
    assert results[1][0].transpose(0, 2, 3, 1).flags.c_contiguous == x_last  # the output keeps x's layout


def test_training_normalises_each_channel_with_biased_batch_variance():
    x = batch((6, 3, 4, 5))
    y = BatchNorm2d(3, eps=1e-12)(x)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, atol=1e-4)


def test_running_stats_use_momentum_and_unbiased_variance():
    bn = BatchNorm1d(3, momentum=0.2)
    xs = [batch((4, 3, 5), seed=s) for s in range(3)]
    mean, var = np.zeros(3), np.ones(3)
    for x in xs:
        bn(x)
        mean = 0.8 * mean + 0.2 * x.mean(axis=(0, 2))
        var = 0.8 * var + 0.2 * x.var(axis=(0, 2), ddof=1)
    np.testing.assert_allclose(bn.running_mean, mean, rtol=1e-5)
    np.testing.assert_allclose(bn.running_var, var, rtol=1e-5)
    assert bn.num_batches_tracked == 3 and bn.num_batches_tracked.dtype == np.int64 and bn.num_batches_tracked.ndim == 0


def test_momentum_none_is_cumulative_average():
    bn = BatchNorm2d(2, momentum=None)
    xs = [batch((3, 2, 2, 2), seed=s) for s in range(4)]
    for x in xs:
        bn(x)
    np.testing.assert_allclose(bn.running_mean, np.mean([x.mean(axis=(0, 2, 3)) for x in xs], axis=0), rtol=1e-5)
    np.testing.assert_allclose(bn.running_var, np.mean([x.var(axis=(0, 2, 3), ddof=1) for x in xs], axis=0), rtol=1e-5)


def test_eval_uses_running_stats_and_keeps_nothing():
    bn = randomise_affine(BatchNorm1d(3))
    bn.running_mean[:] = [1.0, -2.0, 0.5]
    bn.running_var[:] = [4.0, 1.0, 0.25]
    x = batch((5, 3))
    y = bn.eval()(x)
    expected = (x - bn.running_mean) / np.sqrt(bn.running_var + bn.eps) * bn.weight.data + bn.bias.data
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    assert bn.num_batches_tracked == 0
    with pytest.raises(RuntimeError, match="without a forward pass in training"):
        bn.backward(np.ones_like(x))


def test_without_running_stats_eval_uses_batch_statistics():
    bn = BatchNorm2d(2, track_running_stats=False)
    assert list(bn.state_dict()) == ["weight", "bias"]
    x = batch((3, 2, 2, 2))
    np.testing.assert_allclose(bn.eval()(x), bn.train()(x), rtol=1e-6)


def test_state_dict_keys_and_double_keep_counter_integer():
    bn = BatchNorm2d(4)
    state = bn.state_dict()
    assert list(state) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert [v.shape for v in state.values()] == [(4,), (4,), (4,), (4,), ()]
    bn.double()
    assert bn.running_var.dtype == np.float64 and bn.num_batches_tracked.dtype == np.int64
    assert list(BatchNorm1d(2, affine=False).state_dict()) == ["running_mean", "running_var", "num_batches_tracked"]


def test_errors():
    with pytest.raises(ValueError, match="positive num_features"):
        BatchNorm1d(0)
    with pytest.raises(ValueError, match="momentum"):
        BatchNorm2d(2, momentum=1.5)
    with pytest.raises(ValueError, match=r"shape \(N, C\) or \(N, C, L\) with C=3, got \(2, 3, 4, 4\)"):
        BatchNorm1d(3)(batch((2, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\) with C=3, got \(2, 4, 4, 4\)"):
        BatchNorm2d(3)(batch((2, 4, 4, 4)))
    with pytest.raises(ValueError, match="dtype"):
        BatchNorm1d(3)(batch((2, 3), dtype=np.float64))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        BatchNorm1d(3)(batch((1, 3)))
    with pytest.raises(RuntimeError, match="without a forward pass"):
        BatchNorm1d(3).backward(batch((2, 3)))
    bn = BatchNorm1d(3)
    bn(batch((2, 3)))
    with pytest.raises(ValueError, match=r"expected grad_output of shape \(2, 3\)"):
        bn.backward(batch((3, 3)))
