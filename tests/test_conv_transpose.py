"""ConvTranspose2d: finite differences, PyTorch parity (values, input and parameter gradients), the
adjoint relation to Conv2d, shapes and errors."""
import numpy as np
import pytest
import torch
from gradcheck import check_module_grads
from parity import assert_same_step_from_state, case_id, randn

from scratchnet import nn

CASES = [
    ((2, 3, 3), dict(), (2, 2, 4, 5)),
    ((3, 2, 3), dict(stride=2, padding=1, output_padding=1), (2, 3, 4, 3)),
    ((2, 4, (2, 3)), dict(stride=(2, 1), padding=(0, 1), bias=False), (2, 2, 3, 4)),
    ((4, 6, 3), dict(stride=2, groups=2, dilation=2, output_padding=1), (2, 4, 3, 3)),
    ((8, 4, 4), dict(stride=2, padding=1), (3, 8, 5, 5)),   # the usual 2x upsampling of a decoder
    ((6, 6, 3), dict(groups=6, stride=2, output_padding=1, padding=2), (2, 6, 4, 4)),  # depthwise adjoint
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_gradients_match_finite_differences(case):
    args, kwargs, shape = case
    check_module_grads(nn.ConvTranspose2d(*args, **kwargs, generator=np.random.default_rng(1)), randn(shape, 0))


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_matches_torch(case):
    args, kwargs, shape = case
    ours, theirs = nn.ConvTranspose2d(*args, **kwargs), torch.nn.ConvTranspose2d(*args, **kwargs)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == \
           [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    assert_same_step_from_state(ours, theirs, randn(shape, 0))


def test_unbatched_input_and_init_like_torch():
    ours = nn.ConvTranspose2d(3, 4, 3, stride=2, generator=np.random.default_rng(0))
    assert_same_step_from_state(ours, torch.nn.ConvTranspose2d(3, 4, 3, stride=2), randn((3, 4, 5), 0))
    bound = 1 / np.sqrt(4 * 9)  # fan_in = out_channels / groups · kh · kw, as torch computes it
    assert np.abs(ours.weight.data).max() <= bound and ours.weight.data.std() > bound / 3


def test_is_the_adjoint_of_conv2d():
    """<Conv2d(x), y> = <x, ConvTranspose2d(y)> for the same weight (no bias)."""
    conv = nn.Conv2d(3, 5, 3, stride=2, padding=1, bias=False)
    transpose = nn.ConvTranspose2d(5, 3, 3, stride=2, padding=1, output_padding=1, bias=False)
    transpose.weight.data[...] = conv.weight.data
    x, y = randn((2, 3, 8, 8), 0), randn((2, 5, 4, 4), 1)
    np.testing.assert_allclose(np.sum(conv(x) * y), np.sum(x * transpose(y)), rtol=1e-4)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="groups dividing both, got in_channels=4, out_channels=6, groups=4"):
        nn.ConvTranspose2d(4, 6, 3, groups=4)
    with pytest.raises(ValueError, match=r"output_padding \(2, 2\) must be smaller than stride \(2, 2\)"):
        nn.ConvTranspose2d(2, 2, 3, stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 2, N, N\), got \(1, 3, 4, 4\)"):
        nn.ConvTranspose2d(2, 2, 3)(randn((1, 3, 4, 4), 0))
    with pytest.raises(ValueError, match="empty"):
        nn.ConvTranspose2d(2, 2, 1, padding=1)(randn((1, 2, 2, 2), 0))
    layer = nn.ConvTranspose2d(2, 2, 3)
    layer(randn((1, 2, 4, 4), 0))
    with pytest.raises(ValueError, match=r"expected grad_output of shape \(1, 2, 6, 6\)"):
        layer.backward(randn((1, 2, 4, 4), 0))
