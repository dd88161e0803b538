"""MaxPool2d and AvgPool2d: finite-difference gradients, shapes, semantics and errors."""
import numpy as np
import pytest
from gradcheck import check_module_grads

from scratchnet.nn import AvgPool2d, Conv2d, MaxPool2d


def tie_free(shape, seed=0):
    """Distinct values at least 0.01 apart, so no finite-difference step changes which input is the maximum."""
    values = np.random.default_rng(seed).permutation(int(np.prod(shape))) * 0.01 - 1.0
    return values.reshape(shape).astype(np.float32)


@pytest.mark.parametrize("kwargs", [
    dict(kernel_size=2),                                  # non-overlapping
    dict(kernel_size=3, stride=2, padding=1),             # overlapping, padded
    dict(kernel_size=(2, 3), stride=1),                   # overlapping, rectangular
    dict(kernel_size=3),                                  # non-overlapping with leftover rows
])
def test_maxpool_gradients_match_finite_differences(kwargs):
    check_module_grads(MaxPool2d(**kwargs), tie_free((2, 2, 7, 6)))


@pytest.mark.parametrize("kwargs", [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
    dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1)),
])
def test_avgpool_gradients_match_finite_differences(kwargs):
    check_module_grads(AvgPool2d(**kwargs), tie_free((2, 2, 6, 7)))


def test_maxpool_values_and_gradient_routing():
    x = np.array([[[[1, 5, 2, 0],
                    [3, 4, 8, 7],
                    [6, 0, 1, 1],
                    [2, 9, 1, 1]]]], dtype=np.float32)
    pool = MaxPool2d(2)
    np.testing.assert_array_equal(pool(x), [[[[5, 8], [9, 1]]]])
    grad = pool.backward(np.array([[[[1, 2], [3, 4]]]], dtype=np.float32))
    # each gradient goes to its window's maximum; in the all-ones window, to the first one
    np.testing.assert_array_equal(grad, [[[[0, 1, 0, 0], [0, 0, 2, 0], [0, 0, 4, 0], [0, 3, 0, 0]]]])


def test_overlapping_maxpool_sums_gradients_of_shared_maximum():
    x = np.zeros((1, 1, 3, 3), dtype=np.float32)
    x[0, 0, 1, 1] = 1.0  # the centre is the maximum of all four 2x2 windows
    pool = MaxPool2d(2, stride=1)
    pool(x)
    grad = pool.backward(np.ones((1, 1, 2, 2), dtype=np.float32))
    assert grad[0, 0, 1, 1] == 4.0 and grad.sum() == 4.0


def test_maxpool_padding_never_wins():
    x = -np.ones((1, 1, 2, 2), dtype=np.float32)
    np.testing.assert_array_equal(MaxPool2d(2, stride=2, padding=1)(x), -np.ones((1, 1, 2, 2)))


def test_avgpool_count_include_pad():
    x = np.ones((1, 1, 2, 2), dtype=np.float32)
    np.testing.assert_allclose(AvgPool2d(2, stride=2, padding=1)(x), np.full((1, 1, 2, 2), 0.25))
    np.testing.assert_allclose(AvgPool2d(2, stride=2, padding=1, count_include_pad=False)(x), np.ones((1, 1, 2, 2)))


@pytest.mark.parametrize("pool_class", [MaxPool2d, AvgPool2d])
def test_output_shape_uses_floor_and_stride_defaults_to_kernel(pool_class):
    pool = pool_class(2)
    assert pool.stride == (2, 2)
    assert pool(tie_free((2, 3, 11, 7))).shape == (2, 3, 5, 3)
    assert pool_class(3, stride=2, padding=1)(tie_free((1, 1, 8, 8))).shape == (1, 1, 4, 4)


@pytest.mark.parametrize("pool_class", [MaxPool2d, AvgPool2d])
def test_keeps_channels_last_layout_of_conv_output(pool_class):
    y = Conv2d(2, 16, 3)(tie_free((2, 2, 8, 8)))  # 16 filters: im2col, whose output is channels-last
    pooled = pool_class(2)(y)
    assert pooled.transpose(0, 2, 3, 1).flags.c_contiguous
    np.testing.assert_array_equal(pooled, pool_class(2)(np.ascontiguousarray(y)))


@pytest.mark.parametrize("pool_class", [MaxPool2d, AvgPool2d])
def test_pool_errors(pool_class):
    with pytest.raises(ValueError, match="at most half"):
        pool_class(2, padding=2)
    with pytest.raises(ValueError, match="kernel_size"):
        pool_class(0)
    with pytest.raises(ValueError, match="stride"):
        pool_class(2, stride=0)
    pool = pool_class(3)
    with pytest.raises(ValueError, match="smaller than the 3x3 kernel"):
        pool(tie_free((1, 1, 2, 5)))
    with pytest.raises(ValueError, match=r"expected input of shape \(N, C, H, W\) or \(C, H, W\), got \(4, 4\)"):
        pool(tie_free((4, 4)))
    with pytest.raises(RuntimeError, match="without a forward pass"):
        pool.backward(tie_free((1, 1, 1, 1)))
    pool(tie_free((1, 1, 6, 6)))
    with pytest.raises(ValueError, match=r"expected grad_output of shape \(1, 1, 2, 2\)"):
        pool.backward(tie_free((1, 1, 3, 3)))
    pool.eval()(tie_free((1, 1, 6, 6)))
    with pytest.raises(RuntimeError, match="without a forward pass in training"):
        pool.backward(tie_free((1, 1, 2, 2)))
