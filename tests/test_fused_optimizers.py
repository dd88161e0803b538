"""The fused optimiser updates (scratchnet.nn.kernels.optimizer) against the optimisers' NumPy reference.

Each optimiser runs several steps from the same weights and gradients on both paths
(``kernels.use("numba")`` / ``kernels.use("numpy")``); the fused loops repeat the reference's
operations in the weights' dtype, so weights and state must agree to the last bit.
"""
import numpy as np
import pytest

from scratchnet import nn, optim
from scratchnet.nn import kernels
from scratchnet.nn.kernels import optimizer as fused

pytest.importorskip("numba")

SHAPE = (1031, 1029)  # above fused.MIN_SIZE, odd so that no SIMD width divides it


@pytest.fixture(autouse=True)
def restore_backend():
    before = kernels.backend()
    yield
    kernels.use(before)


def run(backend, make, dtype, steps=4, strided_grad=False):
    """Weights and optimiser state after ``steps`` updates with seeded gradients on ``backend``."""
    kernels.use(backend)
    rng = np.random.default_rng(0)
    weight = nn.Parameter(rng.standard_normal(SHAPE).astype(dtype))
    small = nn.Parameter(rng.standard_normal(7).astype(dtype))  # below MIN_SIZE: the reference on both paths
    optimizer = make([weight, small])
    for _ in range(steps):
        grad = rng.standard_normal(SHAPE[::-1] if strided_grad else SHAPE).astype(dtype)
        weight.grad = grad.T if strided_grad else grad
        small.grad = rng.standard_normal(7).astype(dtype)
        optimizer.step()
    state = {key: value for key, value in optimizer.state.get(weight, {}).items() if isinstance(value, np.ndarray)}
    return weight.data.copy(), small.data.copy(), state


OPTIMIZERS = {
    "sgd": lambda p: optim.SGD(p, lr=0.1),
    "sgd-momentum-decay": lambda p: optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-3),
    "sgd-nesterov": lambda p: optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True),
    "sgd-dampening": lambda p: optim.SGD(p, lr=0.05, momentum=0.9, dampening=0.3),
    "adam": lambda p: optim.Adam(p, lr=1e-2),
    "adam-l2-amsgrad": lambda p: optim.Adam(p, lr=1e-2, weight_decay=0.1, amsgrad=True),
    "adam-small-beta1": lambda p: optim.Adam(p, lr=1e-2, betas=(0.3, 0.99)),  # lerp's other branch
    "adamw": lambda p: optim.AdamW(p, lr=3e-3, weight_decay=0.05),
    "adagrad": lambda p: optim.Adagrad(p, lr=0.1, lr_decay=0.01),
    "adagrad-decay": lambda p: optim.Adagrad(p, lr=0.1, weight_decay=0.01, initial_accumulator_value=0.1),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_the_fused_update_is_the_reference_bit_for_bit(name, dtype):
    weight, small, state = run("numba", OPTIMIZERS[name], dtype)
    ref_weight, ref_small, ref_state = run("numpy", OPTIMIZERS[name], dtype)
    np.testing.assert_array_equal(weight, ref_weight)
    np.testing.assert_array_equal(small, ref_small)
    assert state.keys() == ref_state.keys()
    for key in state:
        np.testing.assert_array_equal(state[key], ref_state[key], err_msg=key)
    assert weight.dtype == dtype and not np.array_equal(weight, run("numpy", OPTIMIZERS[name], dtype, steps=0)[0])


def test_a_transposed_gradient_takes_the_fused_path_and_agrees():
    weight, _, state = run("numba", OPTIMIZERS["adam"], np.float32, strided_grad=True)
    ref_weight, _, ref_state = run("numpy", OPTIMIZERS["adam"], np.float32, strided_grad=True)
    np.testing.assert_array_equal(weight, ref_weight)
    np.testing.assert_array_equal(state["exp_avg"], ref_state["exp_avg"])


def test_which_weights_take_the_fused_path():
    kernels.use("numba")
    group = {"lr": 0.1, "momentum": 0, "dampening": 0, "weight_decay": 0, "nesterov": False}
    big = np.ones(fused.MIN_SIZE, np.float32)
    assert fused.sgd(big, np.ones_like(big), {}, group) and np.allclose(big, 0.9)
    assert not fused.sgd(np.ones(fused.MIN_SIZE - 1, np.float32), np.ones(fused.MIN_SIZE - 1, np.float32), {}, group)
    strided = np.ones((2, fused.MIN_SIZE), np.float32)[:, ::2]
    assert not fused.sgd(strided, np.ones_like(strided), {}, group)  # the reference handles views of weights
    assert not fused.sgd(np.ones(fused.MIN_SIZE, np.float16), np.ones(fused.MIN_SIZE, np.float16), {}, group)
    kernels.use("numpy")
    assert not fused.sgd(big, np.ones_like(big), {}, group)


def test_sgd_with_momentum_creates_its_buffer_on_the_first_step():
    kernels.use("numba")
    param, state = np.zeros(fused.MIN_SIZE, np.float32), {}
    group = {"lr": 1.0, "momentum": 0.9, "dampening": 0.5, "weight_decay": 0, "nesterov": False}
    assert fused.sgd(param, np.full_like(param, 2.0), state, group)
    np.testing.assert_array_equal(state["momentum_buffer"], 2.0)  # b ← g on the first step, no dampening
    np.testing.assert_array_equal(param, -2.0)
    assert fused.sgd(param, np.full_like(param, 2.0), state, group)
    np.testing.assert_allclose(state["momentum_buffer"], 0.9 * 2.0 + 0.5 * 2.0)
