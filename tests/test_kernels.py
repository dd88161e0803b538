"""Compiled kernels (scratchnet.nn.kernels) against the NumPy reference of each layer they replace.

Every kernel is run forward and backward on small odd shapes, in float32 and float64, with and
without padding and bias, and compared with the same layer on the reference path
(``kernels.use("numpy")``). The switches, the thread setting and the fallback on a machine where
Numba cannot compile are tested too.
"""
import warnings

import numpy as np
import pytest
from conftest import run_python
from threadpoolctl import threadpool_limits

from scratchnet import nn
from scratchnet.nn import kernels
from scratchnet.nn.kernels import conv as direct_conv

pytest.importorskip("numba")


@pytest.fixture(autouse=True)
def restore_backend():
    before = kernels.backend()
    yield
    kernels.use(before)


def run_both(make_layer, x, input_grad=True):
    """(y, dL/dx, {name: grad}) of a fresh ``make_layer()`` on the kernel path and on the reference path."""
    results = []
    for backend in ("numba", "numpy"):
        kernels.use(backend)
        layer = make_layer()
        y = layer(x)
        g = np.random.default_rng(2).standard_normal(y.shape).astype(x.dtype)
        dx = layer.backward(g) if input_grad else layer.backward(g, input_grad=False)
        results.append((np.array(y), None if dx is None else np.array(dx),
                        {name: p.grad for name, p in layer.named_parameters()}))
    return results


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 2e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("channels, filters, kernel, size, padding, bias", [
    (3, 6, 5, (13, 11), 0, True),        # LeNet-5's first layer, odd image sizes
    (1, 4, 3, (7, 9), 1, False),          # grey input, padding, no bias
    (2, 8, (2, 3), (6, 5), (1, 2), True),  # rectangular kernel, per-axis padding
    (5, 1, 1, (4, 3), 0, True),           # 1x1 kernel, one filter
    (2, 3, (3, 5), (8, 9), (1, 2), False),  # a kernel row of 5 taps (spelled out in the loops), padding
    (3, 2, (2, 4), (6, 7), 0, True),      # 4 taps: the loops' generic path
])
def test_direct_convolution_matches_the_reference(dtype, rtol, channels, filters, kernel, size, padding, bias):
    def make():
        return nn.Conv2d(channels, filters, kernel, padding=padding, bias=bias, dtype=dtype,
                         generator=np.random.default_rng(1))

    assert direct_conv.supports(make()) or not kernels.enabled()
    x = np.random.default_rng(0).standard_normal((3, channels, *size)).astype(dtype)
    (y, dx, grads), (y_ref, dx_ref, grads_ref) = run_both(make, x)
    atol = rtol * 10
    np.testing.assert_allclose(y, y_ref, rtol=rtol, atol=atol)
    np.testing.assert_allclose(dx, dx_ref, rtol=rtol, atol=atol)
    for name in grads_ref:
        np.testing.assert_allclose(grads[name], grads_ref[name], rtol=rtol, atol=atol * 10, err_msg=name)


def test_direct_convolution_without_input_gradient_and_channels_last_input():
    def make():
        return nn.Conv2d(3, 6, 3, padding=1, generator=np.random.default_rng(1))

    x = np.random.default_rng(0).standard_normal((2, 5, 6, 3)).astype(np.float32).transpose(0, 3, 1, 2)
    (y, dx, grads), (y_ref, dx_ref, grads_ref) = run_both(make, x, input_grad=False)
    assert dx is None and dx_ref is None
    np.testing.assert_allclose(y, y_ref, rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(grads["weight"], grads_ref["weight"], rtol=2e-5, atol=2e-4)


def test_eval_mode_keeps_nothing_and_a_wrong_gradient_shape_is_refused():
    conv = nn.Conv2d(3, 6, 3)
    x = np.zeros((2, 3, 5, 5), np.float32)
    conv.eval()
    conv(x)
    assert conv._state is None
    conv.train()
    conv(x)
    with pytest.raises(ValueError, match=r"expected grad_output of shape \(2, 6, 3, 3\)"):
        conv.backward(np.zeros((2, 6, 4, 4), np.float32))


@pytest.mark.parametrize("kwargs", [dict(stride=2), dict(out_channels=16)])
def test_configurations_the_kernel_does_not_take_run_the_reference(kwargs):
    conv = nn.Conv2d(3, kwargs.get("out_channels", 6), 3, stride=kwargs.get("stride", 1))
    assert not direct_conv.supports(conv)
    conv(np.zeros((1, 3, 7, 7), np.float32))
    assert not isinstance(conv._state[0], direct_conv.Saved)


def test_the_numpy_switch_runs_the_reference_path():
    conv = nn.Conv2d(3, 6, 3)
    x = np.zeros((1, 3, 5, 5), np.float32)
    kernels.use("numpy")
    assert kernels.backend() == "numpy" and not direct_conv.supports(conv)
    conv(x)
    assert not isinstance(conv._state[0], direct_conv.Saved)
    kernels.use("numba")
    conv(x)
    assert isinstance(conv._state[0], direct_conv.Saved)
    with pytest.raises(ValueError, match="'cuda' is not a kernel backend; use one of numba, numpy"):
        kernels.use("cuda")


def test_prepare_compiles_every_kernel_up_front_on_the_numba_path_only():
    kernels.use("numba")
    assert kernels.prepare(np.float32) and kernels.prepare(np.float64)
    assert {("conv_loops", np.dtype(np.float32)), ("batchnorm_loops", np.dtype(np.float64))} <= kernels._READY
    kernels.use("numpy")
    assert not kernels.prepare()


def test_the_environment_variable_chooses_the_path():
    code = "from scratchnet.nn import kernels; print(kernels.backend())"
    assert run_python(code, SCRATCHNET_KERNELS="numpy") == "numpy"
    assert run_python(code) == "numba"
    with pytest.raises(Exception) as failed:
        run_python(code, SCRATCHNET_KERNELS="fast")
    assert "SCRATCHNET_KERNELS='fast' is not a kernel backend" in failed.value.stderr


def test_kernels_use_the_blas_thread_setting():
    import numba

    conv, x = nn.Conv2d(3, 6, 3), np.zeros((4, 3, 6, 6), np.float32)
    with threadpool_limits(limits=1):
        assert kernels.thread_count() == 1
        conv(x)
        assert numba.get_num_threads() == 1
    with threadpool_limits(limits=2):
        assert kernels.thread_count() == min(2, numba.config.NUMBA_NUM_THREADS)


def loading_kernels_raises(monkeypatch, error: Exception) -> None:
    """Every kernel module load raises ``error`` (as on a machine where Numba cannot compile), from a cold start."""
    def load(module):
        raise error

    monkeypatch.setattr(kernels, "_loops", load)
    monkeypatch.setattr(kernels, "_READY", set())
    kernels.use("numba")


def test_a_machine_where_numba_cannot_compile_falls_back_to_numpy_with_one_warning(monkeypatch):
    from numba.core.errors import LoweringError

    loading_kernels_raises(monkeypatch, LoweringError("simulated: no LLVM target for this CPU"))
    conv = nn.Conv2d(3, 6, 3, generator=np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((2, 3, 6, 6)).astype(np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y = conv(x)
        conv.backward(np.ones_like(y))
        conv(x)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and "Numba could not compile its kernels (LoweringError" in messages[0]
    assert "NumPy reference path" in messages[0] and "\n" not in messages[0]
    assert kernels.backend() == "numpy"
    kernels.use("numpy")
    np.testing.assert_allclose(y, nn.Conv2d(3, 6, 3, generator=np.random.default_rng(0))(x), rtol=1e-6)


def test_a_bug_in_a_kernel_is_not_mistaken_for_a_machine_that_cannot_compile(monkeypatch):
    loading_kernels_raises(monkeypatch, ZeroDivisionError("a real bug"))
    with pytest.raises(ZeroDivisionError):
        nn.Conv2d(3, 6, 3)(np.zeros((1, 3, 5, 5), np.float32))


def test_without_numba_the_engine_warns_once_and_runs_on_numpy():
    out = run_python(
        "import sys, warnings; sys.modules['numba'] = None\n"
        "import numpy as np; from scratchnet import nn; from scratchnet.nn import kernels\n"
        "warnings.simplefilter('always')\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    m = nn.Conv2d(3, 2, 3); x = np.ones((2, 3, 6, 6), np.float32)\n"
        "    m.backward(np.ones_like(m(x))); m(x)\n"
        "print(len(caught), kernels.backend(), 'Numba could not compile' in str(caught[0].message))\n")
    assert out == "1 numpy True"


def channels_last(shape, dtype, seed=0):
    n, c, h, w = shape
    return np.random.default_rng(seed).standard_normal((n, h, w, c)).astype(dtype).transpose(0, 3, 1, 2) * 3 + 1


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 2e-5), (np.float64, 1e-11)])
@pytest.mark.parametrize("make, x", [
    (lambda d: nn.BatchNorm2d(5, dtype=d), lambda d: channels_last((3, 5, 7, 3), d)),
    (lambda d: nn.BatchNorm2d(5, momentum=None, affine=False, dtype=d), lambda d: channels_last((2, 5, 3, 5), d)),
    (lambda d: nn.BatchNorm2d(4, track_running_stats=False, dtype=d), lambda d: channels_last((2, 4, 1, 1), d)),
    (lambda d: nn.BatchNorm1d(6, dtype=d), lambda d: np.random.default_rng(0).standard_normal((9, 6)).astype(d)),
])
def test_fused_batchnorm_matches_the_reference(dtype, rtol, make, x):
    from scratchnet.nn.kernels import batchnorm as fused

    x = x(dtype)
    layers = []

    def make_layer():
        layer = make(dtype)
        if layer.affine:
            layer.weight.data[:] = np.linspace(0.5, 2, layer.num_features)
            layer.bias.data[:] = np.linspace(-1, 1, layer.num_features)
        layers.append(layer)
        return layer

    assert fused.supports(make(dtype), x)
    (y, dx, grads), (y_ref, dx_ref, grads_ref) = run_both(make_layer, x)
    np.testing.assert_allclose(y, y_ref, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(dx, dx_ref, rtol=rtol * 10, atol=rtol * 10)
    for name in grads_ref:
        np.testing.assert_allclose(grads[name], grads_ref[name], rtol=rtol * 10, atol=rtol * 10, err_msg=name)
    ours, reference = layers
    for name, value in reference.named_buffers():
        np.testing.assert_allclose(dict(ours.named_buffers())[name], value, rtol=rtol, err_msg=name)


def test_batchnorm_layouts_and_modes_the_kernel_does_not_take_run_the_reference():
    from scratchnet.nn.kernels import batchnorm as fused

    layer = nn.BatchNorm2d(3)
    assert not fused.supports(layer, np.zeros((2, 3, 4, 4), np.float32))  # channels-first memory
    assert not fused.supports(nn.BatchNorm1d(3), np.zeros((2, 3, 4), np.float32))
    layer.eval()
    assert not fused.supports(layer, channels_last((2, 3, 4, 4), np.float32))
    layer.train()
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        layer(channels_last((1, 3, 1, 1), np.float32))


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="fork() is POSIX")
def test_a_forked_child_and_concurrent_threads_run_the_kernels():
    # GNU OpenMP's pool kills a forked child that runs a parallel kernel; the grid search forks its
    # workers, and the prediction server calls one model from several threads.
    out = run_python(
        "import os, threading, numpy as np\n"
        "from scratchnet import nn\n"
        "m = nn.Conv2d(3, 6, 3); m.eval(); x = np.ones((8, 3, 8, 8), np.float32); expected = m(x)\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    os._exit(0 if np.array_equal(m(x), expected) else 1)\n"
        "print(os.waitpid(pid, 0)[1])\n"
        "same = []\n"
        "def work():\n"
        "    same.extend(np.array_equal(m(x), expected) for _ in range(20))\n"
        "threads = [threading.Thread(target=work) for _ in range(3)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "print(len(same), all(same))\n")
    assert out.splitlines() == ["0", "60 True"]
