"""MaxPool2d's ceil_mode, dilation and return_indices; AvgPool2d's ceil_mode, count_include_pad and
divisor_override: finite differences, PyTorch parity (values, gradients, indices) and errors."""
import numpy as np
import pytest
import torch
from gradcheck import check_module_grads
from parity import assert_same_step, randn

from scratchnet import nn

MAX_CASES = [
    dict(kernel_size=2, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=2, dilation=2),
    dict(kernel_size=(3, 2), stride=(2, 1), dilation=(2, 3), padding=1),
    dict(kernel_size=3, stride=2, dilation=2, ceil_mode=True),
    dict(kernel_size=2, stride=1, dilation=2, padding=1, ceil_mode=True),
]
AVG_CASES = [
    dict(kernel_size=2, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=2, divisor_override=3),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, divisor_override=5),
    dict(kernel_size=(2, 3), stride=(2, 2), padding=(1, 1), count_include_pad=False, ceil_mode=True),
]


def tie_free(shape, seed=0):
    values = np.random.default_rng(seed).permutation(int(np.prod(shape))) * 0.01 - 1.0
    return values.reshape(shape).astype(np.float32)


def case_id(kwargs):
    return ",".join(f"{k}={v}" for k, v in kwargs.items())


@pytest.mark.parametrize("kwargs", MAX_CASES, ids=case_id)
def test_maxpool_gradients_and_torch_parity(kwargs):
    check_module_grads(nn.MaxPool2d(**kwargs), tie_free((2, 2, 7, 8)))
    assert_same_step(nn.MaxPool2d(**kwargs), torch.nn.MaxPool2d(**kwargs), randn((2, 3, 9, 8), 0))


@pytest.mark.parametrize("kwargs", AVG_CASES, ids=case_id)
def test_avgpool_gradients_and_torch_parity(kwargs):
    check_module_grads(nn.AvgPool2d(**kwargs), tie_free((2, 2, 7, 8)))
    assert_same_step(nn.AvgPool2d(**kwargs), torch.nn.AvgPool2d(**kwargs), randn((2, 3, 9, 8), 0))


@pytest.mark.parametrize("kwargs", MAX_CASES + [dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1)],
                         ids=case_id)
def test_maxpool_return_indices_match_torch(kwargs):
    x = np.round(randn((2, 3, 9, 8), 0)).clip(0, None)  # ties: many equal zeros
    pool = nn.MaxPool2d(**kwargs, return_indices=True)
    y, indices = pool(x)
    yt, it = torch.nn.MaxPool2d(**kwargs, return_indices=True)(torch.from_numpy(x))
    np.testing.assert_array_equal(y, yt.numpy())
    np.testing.assert_array_equal(indices, it.numpy())
    assert indices.dtype == np.int64
    # the indices point at the values that came out, and backward still takes dL/dy alone
    np.testing.assert_array_equal(np.take_along_axis(x.reshape(2, 3, -1), indices.reshape(2, 3, -1), 2).reshape(y.shape), y)
    assert pool.backward(np.ones_like(y)).shape == x.shape
    _, eval_indices = pool.eval()(x)
    np.testing.assert_array_equal(eval_indices, indices)


def test_ceil_mode_adds_the_partial_last_window_like_torch():
    x = np.arange(25, dtype=np.float32).reshape(1, 1, 5, 5)
    assert nn.MaxPool2d(2)(x).shape == (1, 1, 2, 2)
    y = nn.MaxPool2d(2, ceil_mode=True)(x)
    np.testing.assert_array_equal(y[0, 0], [[6, 8, 9], [16, 18, 19], [21, 23, 24]])
    np.testing.assert_allclose(nn.AvgPool2d(2, ceil_mode=True)(x)[0, 0, 2], [20.5, 22.5, 24])  # partial windows: real inputs only


def test_pooling_argument_errors():
    with pytest.raises(ValueError, match="dilation"):
        nn.MaxPool2d(2, dilation=0)
    with pytest.raises(ValueError, match="divisor_override must be a positive int or None, got 0"):
        nn.AvgPool2d(2, divisor_override=0)
    with pytest.raises(ValueError, match=r"smaller than the 3x3 kernel \(dilated to 5x5\)"):
        nn.MaxPool2d(3, dilation=2)(randn((1, 1, 4, 6), 0))
    assert repr(nn.MaxPool2d(2, dilation=2, ceil_mode=True, return_indices=True)) == (
        "MaxPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(2, 2), ceil_mode=True, "
        "return_indices=True)")
