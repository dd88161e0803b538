import math

import numpy as np
import pytest

from scratchnet import nn
from scratchnet.nn.activation import erf
from gradcheck import check_module_grads

X = np.random.default_rng(0).normal(size=(3, 2, 4)) * 2

ACTIVATIONS = [
    nn.ReLU(),
    nn.LeakyReLU(),
    nn.LeakyReLU(negative_slope=-0.5),
    nn.ELU(),
    nn.ELU(alpha=2.5),
    nn.Sigmoid(),
    nn.Tanh(),
    nn.Softmax(dim=-1),
    nn.Softmax(dim=1),
    nn.GELU(),
    nn.GELU(approximate="tanh"),
    nn.SiLU(),
    nn.Mish(),
    nn.Hardswish(),
    nn.ReLU6(),
    nn.Softplus(),
    nn.Softplus(beta=2, threshold=3),
    nn.LogSoftmax(dim=-1),
    nn.LogSoftmax(dim=0),
]  # PReLU, which has a parameter and a dtype, is tested in test_layers_more.py


@pytest.mark.parametrize("activation", ACTIVATIONS, ids=repr)
def test_gradients_match_finite_differences(activation):
    check_module_grads(activation, X)


@pytest.mark.parametrize("activation", ACTIVATIONS, ids=repr)
def test_keeps_shape_and_dtype(activation):
    x = X.astype(np.float32)
    y = activation.train()(x)
    assert y.shape == x.shape and y.dtype == np.float32
    assert activation.backward(np.ones_like(y)).dtype == np.float32


@pytest.mark.parametrize("activation", ACTIVATIONS, ids=repr)
def test_eval_forward_is_the_same_and_keeps_nothing(activation):
    y_train = activation.train()(X)
    y_eval = activation.eval()(X)
    np.testing.assert_array_equal(y_train, y_eval)
    with pytest.raises(RuntimeError, match="without a forward pass in training mode"):
        activation.backward(np.ones_like(X))


@pytest.mark.parametrize("activation", ACTIVATIONS, ids=repr)
def test_non_array_input_is_a_clear_error(activation):
    with pytest.raises(ValueError, match="expected a NumPy array, got list"):
        activation([[1.0, 2.0]])


def test_values_at_known_points():
    x = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(nn.ReLU()(x), [0, 0, 3])
    np.testing.assert_allclose(nn.LeakyReLU(0.1)(x), [-0.2, 0, 3])
    np.testing.assert_allclose(nn.ELU(alpha=2.0)(x), [2 * (math.exp(-2) - 1), 0, 3])
    np.testing.assert_allclose(nn.Sigmoid()(x), [1 / (1 + math.exp(2)), 0.5, 1 / (1 + math.exp(-3))])
    np.testing.assert_allclose(nn.Softmax(dim=0)(x), np.exp(x) / np.exp(x).sum())
    np.testing.assert_allclose(nn.GELU()(x), [v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x])


def test_new_activations_at_known_points():
    x = np.array([-4.0, -3.0, -1.0, 0.0, 3.0, 7.0])
    np.testing.assert_allclose(nn.SiLU()(x), x / (1 + np.exp(-x)))
    np.testing.assert_allclose(nn.Mish()(x), x * np.tanh(np.log1p(np.exp(x))))
    np.testing.assert_allclose(nn.Hardswish()(x), [0, 0, -1 / 3, 0, 3, 7])
    np.testing.assert_array_equal(nn.ReLU6()(x), [0, 0, 0, 0, 3, 6])
    np.testing.assert_allclose(nn.Softplus(beta=2, threshold=10)(x), [*(np.log1p(np.exp(2 * x[:-1])) / 2), 7])
    np.testing.assert_allclose(nn.LogSoftmax(dim=0)(x), np.log(np.exp(x) / np.exp(x).sum()))
    np.testing.assert_allclose(nn.PReLU(init=0.1).double()(x), [-0.4, -0.3, -0.1, 0, 3, 7])
    prelu = nn.PReLU(3, init=0.5)
    np.testing.assert_allclose(prelu(np.array([[-2.0, -4.0, 1.0]], np.float32)), [[-1, -2, 1]])
    assert [k for k, _ in prelu.named_parameters()] == ["weight"] and prelu.weight.shape == (3,)


def test_new_activations_neither_overflow_nor_warn():
    x = np.array([[-1e4, 0.0, 1e4]], np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        np.testing.assert_array_equal(nn.SiLU()(x), [[0, 0, 1e4]])
        np.testing.assert_array_equal(nn.Mish()(x), [[0, 0, 1e4]])
        np.testing.assert_array_equal(nn.Softplus()(x), np.array([[0, np.log(2), 1e4]], np.float32))
        np.testing.assert_array_equal(nn.LogSoftmax(dim=1)(x), [[-2e4, -1e4, 0]])


def test_prelu_channel_count_must_match_the_input():
    with pytest.raises(ValueError, match=r"3 slopes need an input with 3 channels along axis 1, got shape \(2, 4\)"):
        nn.PReLU(3)(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="num_parameters must be a positive int"):
        nn.PReLU(0)
    with pytest.raises(ValueError, match=r"LogSoftmax\(dim=1\)"):
        nn.LogSoftmax()


def test_erf_matches_math_erf_to_float64_precision():
    x = np.concatenate([np.linspace(-7, 7, 20001), [0.46875, -4.0, 4.0, 30.0, -1e300, np.inf, -np.inf]])
    expected = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(erf(x), expected, rtol=0, atol=3e-16)
    assert np.isnan(erf(np.array([np.nan]))).all()
    representable = np.abs(x) < 1e38
    in_float32 = erf(x[representable].astype(np.float32))
    assert in_float32.dtype == np.float32
    np.testing.assert_allclose(in_float32, expected[representable], rtol=0, atol=3e-7)


def test_extreme_inputs_neither_overflow_nor_warn():
    x = np.array([[-1e4, 0.0, 1e4]], np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        np.testing.assert_array_equal(nn.Sigmoid()(x), [[0, 0.5, 1]])
        np.testing.assert_array_equal(nn.Softmax(dim=1)(x), [[0, 0, 1]])
        np.testing.assert_array_equal(nn.Tanh()(x), [[-1, 0, 1]])
        np.testing.assert_array_equal(nn.ELU()(x), [[-1, 0, 1e4]])
        np.testing.assert_array_equal(nn.GELU()(x), [[0, 0, 1e4]])


def test_softmax_needs_a_valid_dim():
    with pytest.raises(ValueError, match=r"Softmax\(dim=1\)"):
        nn.Softmax()
    with pytest.raises(ValueError, match="has no dimension 2"):
        nn.Softmax(dim=2)(np.zeros((2, 3)))


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match="'none' or 'tanh'"):
        nn.GELU(approximate="fast")


def test_backward_does_not_modify_grad_output():
    for activation in ACTIVATIONS:
        activation.train()(X)
        g = np.ones_like(X)
        activation.backward(g)
        assert (g == 1).all(), repr(activation)
