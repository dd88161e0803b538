"""Cases the engine audit found uncovered: each is a finite-difference check in float64 and a
PyTorch parity test (forward, input gradient, parameter gradients) like the layer tests."""
import numpy as np
import pytest
import torch
from gradcheck import check_module_grads
from parity import assert_same_step, randn

from scratchnet import nn


def tie_free(shape, seed=0):
    values = np.random.default_rng(seed).permutation(int(np.prod(shape))) * 0.01 - 1.0
    return values.reshape(shape).astype(np.float32)


POOLS = [
    ("MaxPool2d", dict(kernel_size=(2, 3), stride=(1, 2))),
    ("MaxPool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("AvgPool2d", dict(kernel_size=(2, 3), stride=(1, 2))),
    ("AvgPool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
]


@pytest.mark.parametrize("name,kwargs", POOLS, ids=lambda v: str(v))
def test_pooling_takes_unbatched_input_as_torch(name, kwargs):
    """(C, H, W) in, (C, Ho, Wo) out, as torch.nn's pools."""
    x = tie_free((3, 6, 7))
    check_module_grads(getattr(nn, name)(**kwargs), x)
    assert_same_step(getattr(nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs), x)


def test_maxpool_unbatched_returns_indices_without_batch_axis():
    x = tie_free((2, 5, 6))
    y, indices = nn.MaxPool2d(2, return_indices=True)(x)
    yt, it = torch.nn.MaxPool2d(2, return_indices=True)(torch.from_numpy(x))
    np.testing.assert_array_equal(y, yt.numpy())
    np.testing.assert_array_equal(indices, it.numpy())


def test_pooling_rejects_other_ranks_naming_both_layouts():
    with pytest.raises(ValueError, match=r"expected input of shape \(N, C, H, W\) or \(C, H, W\), got \(4, 5\)"):
        nn.AvgPool2d(2)(randn((4, 5), 0))
