"""LayerNorm, GroupNorm, PReLU, Dropout2d and Linear on (*, in_features): finite differences,
PyTorch parity (forward, input gradient, parameter gradients) and errors."""
import contextlib

import numpy as np
import pytest
import torch
from gradcheck import check_module_grads
from parity import assert_same_step_from_state, randn

import scratchnet
from scratchnet import nn


def randomise(module, seed=3):
    """Parameters away from their ones/zeros start, so the affine part is really checked."""
    rng = np.random.default_rng(seed)
    for p in module.parameters():
        p.data[...] = rng.normal(size=p.shape)
    return module


NORMS = [
    (lambda lib: lib.LayerNorm(6), (4, 6)),
    (lambda lib: lib.LayerNorm((3, 5)), (2, 4, 3, 5)),
    (lambda lib: lib.LayerNorm([4, 5], elementwise_affine=False), (3, 4, 5)),
    (lambda lib: lib.LayerNorm(5, eps=1e-3, bias=False), (2, 3, 5)),
    (lambda lib: lib.GroupNorm(2, 6), (3, 6, 4, 5)),
    (lambda lib: lib.GroupNorm(1, 4), (2, 4, 3)),
    (lambda lib: lib.GroupNorm(4, 4, affine=False), (2, 4, 3, 3)),
    (lambda lib: lib.GroupNorm(3, 6, eps=1e-2), (2, 6)),
]


@pytest.mark.parametrize("make, shape", NORMS, ids=lambda v: repr(v(nn)) if callable(v) else str(v))
def test_norm_gradients_match_finite_differences(make, shape):
    check_module_grads(randomise(make(nn)), randn(shape, 0) * 2 + 1)


@pytest.mark.parametrize("make, shape", NORMS, ids=lambda v: repr(v(nn)) if callable(v) else str(v))
def test_norm_matches_torch_in_training_and_eval(make, shape):
    ours, theirs = randomise(make(nn)), make(torch.nn)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert_same_step_from_state(ours, theirs, randn(shape, 0) * 3 + 2)
    x = randn(shape, 1)
    np.testing.assert_allclose(ours.eval()(x), theirs.eval()(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-4, atol=1e-5)


def test_group_norm_of_channels_last_conv_output():
    y = nn.Conv2d(8, 8, 3)(randn((2, 8, 6, 6), 0))
    norm = nn.GroupNorm(4, 8)
    np.testing.assert_allclose(norm(y), norm(np.ascontiguousarray(y)), rtol=1e-5, atol=1e-6)


def test_norm_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"num_groups=4 must be a positive int dividing num_channels=6"):
        nn.GroupNorm(4, 6)
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 6, \*\), got \(2, 4, 3\)"):
        nn.GroupNorm(2, 6)(randn((2, 4, 3), 0))
    with pytest.raises(ValueError, match=r"expected input of shape \(\*, 3, 5\), got \(2, 5, 3\)"):
        nn.LayerNorm((3, 5))(randn((2, 5, 3), 0))
    with pytest.raises(ValueError, match="normalized_shape must be a positive int or a tuple"):
        nn.LayerNorm(0)
    with pytest.raises(ValueError, match="eps must be a positive number"):
        nn.LayerNorm(3, eps=0)
    norm = nn.LayerNorm(3)
    norm(randn((2, 3), 0))
    with pytest.raises(ValueError, match=r"expected grad_output of shape \(2, 3\), got \(3, 2\)"):
        norm.backward(randn((3, 2), 0))


@pytest.mark.parametrize("make, shape", [
    (lambda lib: lib.PReLU(), (4, 5)),
    (lambda lib: lib.PReLU(3, init=-0.2), (2, 3, 4, 4)),
    (lambda lib: lib.PReLU(5), (6, 5)),
], ids=["shared", "per-channel-4d", "per-feature"])
def test_prelu_gradients_and_torch_parity(make, shape):
    check_module_grads(make(nn), randn(shape, 0))
    assert_same_step_from_state(make(nn), make(torch.nn), randn(shape, 1))


@pytest.mark.parametrize("shape", [(7,), (2, 3, 7), (2, 2, 3, 7)])
def test_linear_on_any_leading_dimensions(shape):
    check_module_grads(nn.Linear(7, 4, generator=np.random.default_rng(0)), randn(shape, 0))
    assert_same_step_from_state(nn.Linear(7, 4), torch.nn.Linear(7, 4), randn(shape, 1))
    with pytest.raises(ValueError, match=r"expected input of shape \(N, N, 7\), got \(2, 3, 6\)"):
        nn.Linear(7, 4)(randn((2, 3, 6), 0))


def reseeded_forward(module, x):
    scratchnet.manual_seed(5)  # the same mask on every evaluation
    return module(x)


def test_dropout2d_gradients_match_finite_differences():
    check_module_grads(nn.Dropout2d(0.4), randn((3, 4, 2, 3), 0), forward=reseeded_forward)


@pytest.mark.parametrize("shape", [(40, 50, 3, 4), (40, 50, 6)])
def test_dropout2d_zeroes_whole_channels_like_torch(shape):
    x = np.ones(shape, np.float32)
    dropout = nn.Dropout2d(0.3)
    y = dropout(x)
    per_channel = y.reshape(*shape[:2], -1)
    assert (per_channel == per_channel[..., :1]).all()  # one draw per (sample, channel)
    assert abs((per_channel[..., 0] == 0).mean() - 0.3) < 0.05
    np.testing.assert_allclose(np.unique(y), [0, 1 / 0.7], rtol=1e-6)
    np.testing.assert_array_equal(dropout.backward(x), y)
    with pytest.warns(UserWarning) if len(shape) == 3 else contextlib.nullcontext():
        yt = torch.nn.Dropout2d(0.3)(torch.ones(shape)).numpy()
    torch_channels = yt.reshape(*shape[:2], -1)
    assert (torch_channels == torch_channels[..., :1]).all()  # torch drops the same units
    assert nn.Dropout2d(0.3).eval()(x) is x
    with pytest.raises(ValueError, match=r"expected input of shape \(N, C, H, W\) \(or \(N, C, L\)\), got \(4, 5\)"):
        dropout(np.ones((4, 5), np.float32))



def test_new_layers_round_trip_through_a_spec():
    """Constructor arguments stay JSON-able; PReLU's numeric ``init`` is an argument, not a re-initialisation."""
    import json

    from scratchnet import spec

    model = nn.Sequential(nn.Linear(3, 4), nn.PReLU(4, init=0.1), nn.LayerNorm(4, eps=1e-4), nn.SiLU(),
                          nn.GroupNorm(2, 4), nn.Dropout2d(0.1), nn.LogSoftmax(dim=1))
    text = json.dumps(spec.spec_of(model))
    rebuilt = spec.build_model(json.loads(text))
    assert repr(rebuilt) == repr(model)
    np.testing.assert_array_equal(rebuilt[1].weight.data, np.full(4, 0.1, np.float32))
