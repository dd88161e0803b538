import numpy as np
import pytest
import torch

import scratchnet
from scratchnet import nn
from gradcheck import check_module_grads

X = np.random.default_rng(0).normal(size=(2, 3, 4, 5))


def reseeded_forward(module, x):
    scratchnet.manual_seed(3)  # the same mask on every evaluation
    return module(x)


def test_dropout_gradients_match_finite_differences():
    check_module_grads(nn.Dropout(0.3), X[0], forward=reseeded_forward)


def test_dropout_zeroes_a_fraction_p_and_rescales_the_rest():
    x = np.ones((200, 500), np.float32)
    y = nn.Dropout(0.2)(x)
    assert y.dtype == np.float32
    assert abs((y == 0).mean() - 0.2) < 0.01
    np.testing.assert_allclose(np.unique(y), [0, 1 / 0.8])
    assert abs(y.mean() - 1) < 0.02


def test_dropout_backward_uses_the_forward_mask():
    dropout = nn.Dropout(0.5)
    y = dropout(np.ones((4, 6)))
    np.testing.assert_array_equal(dropout.backward(np.ones((4, 6))), y)


def test_dropout_is_the_identity_in_eval_mode():
    x = X.astype(np.float32)
    assert nn.Dropout(0.9).eval()(x) is x


def test_dropout_with_p_zero_keeps_everything():
    np.testing.assert_array_equal(nn.Dropout(0.0)(X), X)


def test_dropout_repeats_after_manual_seed_and_follows_its_generator():
    scratchnet.manual_seed(11)
    first = nn.Dropout(0.5)(X)
    scratchnet.manual_seed(11)
    np.testing.assert_array_equal(nn.Dropout(0.5)(X), first)
    own = [nn.Dropout(0.5, generator=np.random.default_rng(5))(X) for _ in range(2)]
    np.testing.assert_array_equal(own[0], own[1])
    assert not np.array_equal(own[0], first)


@pytest.mark.parametrize("p", [-0.1, 1.01, 1.5])
def test_dropout_rejects_p_outside_unit_interval(p):
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        nn.Dropout(p)


def test_flatten_gradients_match_finite_differences():
    check_module_grads(nn.Flatten(), X)


@pytest.mark.parametrize(
    "start, end, shape", [(1, -1, (2, 60)), (0, -1, (120,)), (0, 1, (6, 4, 5)), (-2, -1, (2, 3, 20)), (2, 2, (2, 3, 4, 5))]
)
def test_flatten_merges_the_dimensions_like_torch(start, end, shape):
    flatten = nn.Flatten(start, end)
    y = flatten(X)
    assert y.shape == shape
    np.testing.assert_array_equal(y.reshape(-1), X.reshape(-1))
    assert flatten.backward(y).shape == X.shape


def test_flatten_handles_an_empty_batch():
    assert nn.Flatten()(np.zeros((0, 3, 4))).shape == (0, 12)


def test_flatten_rejects_missing_or_reversed_dimensions():
    with pytest.raises(ValueError, match="has no dimensions 1..-1"):
        nn.Flatten()(np.zeros(3))
    with pytest.raises(ValueError, match="start_dim must not come after end_dim"):
        nn.Flatten(2, 1)(X)


def test_eval_forwards_keep_nothing():
    for module in (nn.Dropout(0.5), nn.Flatten()):
        module.eval()(X)
        with pytest.raises(RuntimeError, match="without a forward pass"):
            module.backward(X)


def test_non_array_input_is_a_clear_error():
    for module in (nn.Dropout(0.5), nn.Flatten()):
        with pytest.raises(ValueError, match="expected a NumPy array"):
            module([[1.0]])


@pytest.mark.parametrize("cls", ["Dropout", "Dropout2d"])
def test_dropout_with_p_one_drops_everything_as_torch_does(cls):
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4)).astype(np.float32)
    layer = getattr(nn, cls)(p=1.0)
    y = layer(x)
    torch_y = getattr(torch.nn, cls)(p=1.0)(torch.from_numpy(x))
    np.testing.assert_array_equal(y, torch_y.numpy())
    assert not np.any(y) and not np.isnan(y).any()
    assert not np.any(layer.backward(np.ones_like(x)))
    layer.eval()
    np.testing.assert_array_equal(layer(x), x)
    with pytest.raises(ValueError, match=r"must be in \[0, 1\], got 1.5"):
        getattr(nn, cls)(p=1.5)
