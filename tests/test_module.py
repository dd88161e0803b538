import numpy as np
import pytest

import scratchnet
from scratchnet import nn
from gradcheck import check_module_grads


def test_linear_gradients():
    check_module_grads(nn.Linear(5, 3), np.random.default_rng(1).normal(size=(4, 5)))


def test_linear_bad_shape_names_layer_and_shapes():
    with pytest.raises(ValueError, match=r"Linear\(in_features=4.*expected input of shape \(N, 4\), got \(2, 3\)"):
        nn.Linear(4, 2)(np.zeros((2, 3), np.float32))


def test_linear_bad_dtype():
    with pytest.raises(ValueError, match="dtype"):
        nn.Linear(4, 2)(np.zeros((2, 4), np.int64))


def test_backward_before_forward_is_clear():
    with pytest.raises(RuntimeError, match="without a forward pass"):
        nn.Linear(4, 2).backward(np.zeros((1, 2), np.float32))


def test_eval_forward_keeps_nothing():
    layer = nn.Linear(4, 2).eval()
    layer(np.ones((3, 4), np.float32))
    with pytest.raises(RuntimeError):
        layer.backward(np.ones((3, 2), np.float32))


def test_gradients_accumulate_until_zero_grad():
    layer = nn.Linear(3, 2)
    x = np.ones((1, 3), np.float32)
    for _ in range(2):
        layer(x)
        layer.backward(np.ones((1, 2), np.float32))
    np.testing.assert_allclose(layer.weight.grad, 2 * np.ones((2, 3)))
    layer.zero_grad()
    assert layer.weight.grad is None


def test_state_dict_roundtrip_and_errors():
    a, b = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2)), nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    b.load_state_dict(a.state_dict())
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and np.array_equal(va, vb)
    with pytest.raises(KeyError, match="missing keys"):
        b.load_state_dict({"0.weight": a.state_dict()["0.weight"]})
    bad = a.state_dict()
    bad["0.weight"] = np.zeros((5, 5))
    with pytest.raises(ValueError, match="shape"):
        b.load_state_dict(bad)


def test_manual_seed_repeats_initialisation():
    scratchnet.manual_seed(7)
    w1 = nn.Linear(10, 10).weight.data.copy()
    scratchnet.manual_seed(7)
    assert np.array_equal(w1, nn.Linear(10, 10).weight.data)


def test_default_init_bounds_match_pytorch_scheme():
    w = nn.Linear(100, 50).weight.data
    assert w.dtype == np.float32 and np.abs(w).max() <= 1 / np.sqrt(100)


def test_double_casts_parameters():
    layer = nn.Linear(2, 2).double()
    assert layer.weight.dtype == np.float64


@pytest.mark.parametrize("first", [lambda: nn.Linear(12, 5), lambda: nn.Conv2d(3, 4, 2)])
def test_skipping_the_input_gradient_keeps_parameter_gradients(first):
    scratchnet.manual_seed(3)
    rng = np.random.default_rng(0)
    layer = first()
    x = rng.normal(size=(6, 12) if isinstance(layer, nn.Linear) else (6, 3, 2, 2)).astype(np.float32)
    model = nn.Sequential(layer, nn.Flatten(), nn.Linear(5 if isinstance(layer, nn.Linear) else 4, 2))
    g = rng.normal(size=(6, 2)).astype(np.float32)
    model(x)
    assert model.backward(g).shape == x.shape
    full = {k: p.grad.copy() for k, p in model.named_parameters()}
    model.zero_grad()
    model(x)
    assert model.backward(g, input_grad=False) is None
    for k, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, full[k], rtol=1e-6, err_msg=k)


def test_batch_of_one_weight_gradient_is_the_outer_product():
    layer = nn.Linear(7, 3)
    x = np.random.default_rng(0).normal(size=(1, 7)).astype(np.float32)
    g = np.random.default_rng(1).normal(size=(1, 3)).astype(np.float32)
    layer(x)
    layer.backward(g)
    np.testing.assert_allclose(layer.weight.grad, g.T @ x, rtol=1e-6)
    check_module_grads(nn.Linear(4, 3), np.random.default_rng(2).normal(size=(1, 4)))


def test_to_takes_the_cpu_device_a_dtype_or_both_as_tutorials_write_it():
    import torch

    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    assert model.to("cpu") is model and model[0].weight.dtype == np.float32
    assert model.to(torch.device("cpu")) is model and model.to("cpu:0") is model
    assert model.to("cpu", np.float64)[1].running_mean.dtype == np.float64
    assert model.to(np.float32)[0].weight.dtype == np.float32
    with pytest.raises(ValueError, match="runs on the CPU only, so it cannot move a model to 'cuda'; use device 'cpu'"):
        model.to("cuda")
    with pytest.raises(ValueError, match="takes a floating dtype"):
        model.to(np.int32)
    with pytest.raises(TypeError, match=r"takes a device \('cpu'\), a dtype or both"):
        model.to(np.float32, np.float64)
