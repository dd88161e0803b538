"""AdaptiveAvgPool2d and AdaptiveMaxPool2d: finite differences, PyTorch parity, windows and errors."""
import numpy as np
import pytest
import torch
from gradcheck import check_module_grads
from parity import assert_close, assert_same_step, randn

from scratchnet import nn
from scratchnet.nn.adaptive import window_bounds

SIZES = [1, 2, 3, (2, 3), (None, 2), (5, 4), (7, 6)]  # divides, overlaps, None, identity-sized


def tie_free(shape, seed=0):
    values = np.random.default_rng(seed).permutation(int(np.prod(shape))) * 0.01 - 1.0
    return values.reshape(shape).astype(np.float32)


@pytest.mark.parametrize("cls", [nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d])
@pytest.mark.parametrize("size", SIZES, ids=repr)
def test_gradients_match_finite_differences(cls, size):
    check_module_grads(cls(size), tie_free((2, 3, 7, 6)))


@pytest.mark.parametrize("cls", ["AdaptiveAvgPool2d", "AdaptiveMaxPool2d"])
@pytest.mark.parametrize("size", SIZES, ids=repr)
@pytest.mark.parametrize("shape", [(4, 3, 7, 6), (3, 9, 10), (2, 5, 8, 8)])
def test_matches_torch(cls, size, shape):
    assert_same_step(getattr(nn, cls)(size), getattr(torch.nn, cls)(size), randn(shape, 0))


def test_max_ties_and_indices_match_torch():
    x = np.round(randn((2, 3, 9, 7), 0)).clip(0, None)  # ReLU-like: many equal zeros
    for size in (1, 2, (4, 3)):
        assert_same_step(nn.AdaptiveMaxPool2d(size), torch.nn.AdaptiveMaxPool2d(size), x)
        y, indices = nn.AdaptiveMaxPool2d(size, return_indices=True)(x)
        yt, it = torch.nn.AdaptiveMaxPool2d(size, return_indices=True)(torch.from_numpy(x))
        np.testing.assert_array_equal(y, yt.numpy())
        np.testing.assert_array_equal(indices, it.numpy())


@pytest.mark.parametrize("cls", [nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d])
def test_channels_last_input_from_conv(cls):
    y = nn.Conv2d(5, 8, 3, padding=1)(randn((3, 5, 6, 6), 0))
    pool = cls(1)
    out = pool(y)
    np.testing.assert_allclose(out, cls(1)(np.ascontiguousarray(y)), rtol=1e-5, atol=1e-6)  # summation order
    assert pool.backward(np.ones_like(out)).shape == y.shape


def test_windows_cover_the_input_as_in_torch():
    starts, ends = window_bounds(10, 4)  # 10 rows into 4 windows: [0,3) [2,5) [5,8) [7,10)
    assert starts.tolist() == [0, 2, 5, 7] and ends.tolist() == [3, 5, 8, 10]
    x = np.arange(10, dtype=np.float32).reshape(1, 1, 10, 1)
    np.testing.assert_allclose(nn.AdaptiveAvgPool2d((4, 1))(x).ravel(), [1, 3, 6, 8])
    np.testing.assert_allclose(nn.AdaptiveMaxPool2d((4, 1))(x).ravel(), [2, 4, 7, 9])


@pytest.mark.parametrize("cls", [nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d])
def test_errors_name_the_problem_and_both_shapes(cls):
    for bad in (0, (1, 2, 3), -1, 1.5):
        with pytest.raises(ValueError, match="output_size must be a positive int, None or a pair"):
            cls(bad)
    pool = cls((4, 2))
    with pytest.raises(ValueError, match=r"output size 4x2 is larger than the input's 3x5 \(input of shape \(2, 1, 3, 5\)\)"):
        pool(randn((2, 1, 3, 5), 0))
    with pytest.raises(ValueError, match=r"expected input of shape \(N, C, H, W\) or \(C, H, W\), got \(4, 4\)"):
        pool(randn((4, 4), 0))
    pool(randn((2, 1, 6, 5), 0))
    with pytest.raises(ValueError, match=r"expected grad_output of shape \(2, 1, 4, 2\), got \(2, 1, 2, 4\)"):
        pool.backward(randn((2, 1, 2, 4), 0))
    pool.eval()(randn((2, 1, 6, 5), 0))
    with pytest.raises(RuntimeError, match="without a forward pass in training"):
        pool.backward(randn((2, 1, 4, 2), 0))


def test_spec_arguments_stay_json_able():
    pool = nn.AdaptiveAvgPool2d([None, 3])
    assert pool.output_size == (None, 3) and repr(pool) == "AdaptiveAvgPool2d(output_size=(None, 3))"
    assert repr(nn.AdaptiveMaxPool2d(1)) == "AdaptiveMaxPool2d(output_size=1)"
