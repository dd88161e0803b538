"""Conv2d: gradients by finite differences, shapes, init, errors, and a small CNN that learns."""
import time

import numpy as np
import pytest
from gradcheck import check_module_grads

from scratchnet.nn import (AvgPool2d, BatchNorm2d, Conv2d, CrossEntropyLoss, Flatten, Linear, MaxPool2d, ReLU,
                           Sequential)


def images(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("kwargs, shape", [
    (dict(in_channels=2, out_channels=3, kernel_size=3), (2, 2, 5, 6)),
    (dict(in_channels=2, out_channels=3, kernel_size=3, stride=2, padding=1), (2, 2, 5, 6)),
    (dict(in_channels=1, out_channels=2, kernel_size=(2, 3), stride=(1, 2), padding=(1, 0), bias=False), (2, 1, 4, 7)),
    (dict(in_channels=3, out_channels=2, kernel_size=1), (1, 3, 3, 3)),
    (dict(in_channels=6, out_channels=2, kernel_size=3, stride=(2, 1), padding=1), (2, 6, 4, 5)),  # many channels
])
def test_gradients_match_finite_differences(kwargs, shape):
    check_module_grads(Conv2d(**kwargs, generator=np.random.default_rng(1)), images(shape))


@pytest.mark.parametrize("size, kernel, stride, padding, expected", [
    ((28, 28), 3, 1, 0, (26, 26)),
    ((32, 32), 5, 1, 2, (32, 32)),
    ((7, 8), 3, 2, 1, (4, 4)),   # floor((7 + 2 - 3) / 2) + 1 = 4; floor((8 + 2 - 3) / 2) + 1 = 4
    ((6, 9), (2, 4), (2, 3), (0, 1), (3, 3)),
])
def test_output_shape_follows_pytorch_floor_rule(size, kernel, stride, padding, expected):
    conv = Conv2d(2, 5, kernel, stride, padding)
    assert conv(images((3, 2, *size))).shape == (3, 5, *expected)


def test_matches_direct_sum_definition():
    conv = Conv2d(2, 3, (2, 3), stride=(2, 1), padding=1, generator=np.random.default_rng(0)).double()
    x = images((2, 2, 4, 5), dtype=np.float64)
    xpad = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    y = conv(x)
    w, b = conv.weight.data, conv.bias.data
    for i in range(y.shape[2]):
        for j in range(y.shape[3]):
            patch = xpad[:, :, 2 * i:2 * i + 2, j:j + 3]
            np.testing.assert_allclose(y[:, :, i, j], np.einsum("ncpq,ocpq->no", patch, w) + b, rtol=1e-12)


def test_output_is_channels_last_view_with_nchw_values():
    conv = Conv2d(3, 16, 3)  # 16 filters: the im2col path (up to 8, nn/kernels' direct loops may run)
    x = images((2, 3, 6, 6))
    y = conv(x)
    assert y.shape == (2, 16, 4, 4) and y.dtype == np.float32
    assert y.transpose(0, 2, 3, 1).flags.c_contiguous  # NHWC memory, NCHW indexing
    # the next layer reads channels-last input as well as C-ordered input
    nxt = Conv2d(16, 2, 3)
    np.testing.assert_allclose(nxt(y), nxt(np.ascontiguousarray(y)), rtol=1e-6)


def test_default_init_matches_pytorch_bounds_and_generator_repeats():
    conv = Conv2d(4, 8, 3, generator=np.random.default_rng(5))
    bound = 1 / np.sqrt(4 * 3 * 3)
    assert conv.weight.shape == (8, 4, 3, 3) and conv.bias.shape == (8,)
    assert np.abs(conv.weight.data).max() <= bound and np.abs(conv.bias.data).max() <= bound
    assert conv.weight.data.std() > bound / 3  # kaiming_uniform(a=√5): U(±bound), std = bound/√3
    again = Conv2d(4, 8, 3, generator=np.random.default_rng(5))
    np.testing.assert_array_equal(conv.weight.data, again.weight.data)
    assert Conv2d(4, 8, 3, bias=False).bias is None
    assert Conv2d(1, 2, 3, dtype=np.float64).weight.dtype == np.float64


def test_gradients_accumulate_until_zero_grad():
    conv = Conv2d(1, 2, 3)
    x, g = images((2, 1, 5, 5)), images((2, 2, 3, 3), seed=1)
    conv(x)
    conv.backward(g)
    first = conv.weight.grad.copy()
    conv(x)
    conv.backward(g)
    np.testing.assert_allclose(conv.weight.grad, 2 * first, rtol=1e-6)
    conv.zero_grad()
    assert conv.weight.grad is None


def test_eval_forward_keeps_nothing_for_backward():
    conv = Conv2d(1, 2, 3).eval()
    conv(images((1, 1, 4, 4)))
    with pytest.raises(RuntimeError, match="without a forward pass in training"):
        conv.backward(images((1, 2, 2, 2)))


@pytest.mark.parametrize("args, match", [
    ((0, 2, 3), "positive channel counts"),
    ((1, -2, 3), "positive channel counts"),
    ((1, 2, 0), "kernel_size"),
    ((1, 2, (3, 3, 3)), "kernel_size"),
    ((1, 2, 3, 0), "stride"),
    ((1, 2, 3, 1, -1), "padding"),
])
def test_bad_constructor_arguments_raise(args, match):
    with pytest.raises(ValueError, match=match):
        Conv2d(*args)


def test_bad_inputs_raise_clear_errors():
    conv = Conv2d(3, 4, 5, padding=1)
    with pytest.raises(ValueError, match=r"smaller than the 5x5 kernel"):
        conv(images((1, 3, 2, 8)))
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 3, N, N\), got \(1, 1, 8, 8\)"):
        conv(images((1, 1, 8, 8)))
    with pytest.raises(ValueError, match="expected input of shape"):
        conv(images((8, 8)))  # (3, 8, 8) is an unbatched image, see test_unbatched_input
    with pytest.raises(ValueError, match=r"expected input of shape \(3, N, N\), got \(1, 8, 8\)"):
        conv(images((1, 8, 8)))
    with pytest.raises(ValueError, match="dtype"):
        conv(images((1, 3, 8, 8)).astype(np.float64))
    with pytest.raises(RuntimeError, match="without a forward pass"):
        Conv2d(1, 1, 3).backward(images((1, 1, 2, 2)))
    conv(images((2, 3, 8, 8)))
    with pytest.raises(ValueError, match=r"expected grad_output of shape \(2, 4, 6, 6\)"):
        conv.backward(images((2, 4, 5, 5)))


def test_small_cnn_overfits_random_labels_with_gradient_descent():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 1, 8, 8)).astype(np.float32)
    labels = rng.integers(0, 4, size=16)
    gen = np.random.default_rng(1)
    model = Sequential(
        Conv2d(1, 8, 3, padding=1, generator=gen), BatchNorm2d(8), ReLU(), MaxPool2d(2),
        Conv2d(8, 8, 3, generator=gen), ReLU(), AvgPool2d(2), Flatten(), Linear(8, 4, generator=gen),
    )
    loss_fn = CrossEntropyLoss()
    first = None
    for _ in range(150):
        loss = float(loss_fn(model(x), labels))
        first = loss if first is None else first
        model.backward(loss_fn.backward())
        for p in model.parameters():
            p.data -= 0.1 * p.grad
        model.zero_grad()
    assert loss < 0.1 * first
    assert np.array_equal(model(x).argmax(axis=1), labels)


def test_parallel_blocks_give_the_same_result_as_one_thread():
    """Conv2d, BatchNorm2d and MaxPool2d split large batches over BLAS's thread count; the
    partial sums are added in a fixed order, so 1 and 2 threads agree bit for bit."""
    from threadpoolctl import threadpool_limits

    from scratchnet.nn import parallel as engine_parallel

    def run():
        gen = np.random.default_rng(0)
        model = Sequential(Conv2d(3, 16, 3, generator=gen), BatchNorm2d(16), MaxPool2d(2))
        x = images((128, 3, 40, 40))  # enough blocks of samples in every layer for 2 threads
        y = model(x)
        return y, model.backward(images(y.shape, seed=1)), [p.grad for p in model.parameters()]

    with threadpool_limits(limits=1, user_api="blas"):
        serial = run()
    engine_parallel._executor.cache_clear()
    with threadpool_limits(limits=2, user_api="blas"):
        parallel = run()
    assert engine_parallel._executor.cache_info().currsize == 1  # the blocks did run on a 2-thread pool
    for a, b in zip([serial[0], serial[1], *serial[2]], [parallel[0], parallel[1], *parallel[2]]):
        np.testing.assert_array_equal(a, b)


def test_a_few_blocks_run_on_the_calling_thread():
    """Threads only start from _MIN_BLOCKS_PER_THREAD blocks per thread: small layers run serially."""
    import threading

    from threadpoolctl import threadpool_limits

    from scratchnet.nn.parallel import _MIN_BLOCKS_PER_THREAD, run_blocks

    with threadpool_limits(limits=2, user_api="blas"):
        few = run_blocks(lambda b: threading.get_ident(), list(range(2 * _MIN_BLOCKS_PER_THREAD - 1)))
        many = run_blocks(lambda b: (time.sleep(0.01), threading.get_ident())[1], list(range(4 * _MIN_BLOCKS_PER_THREAD)))
    assert set(few) == {threading.get_ident()}
    assert threading.get_ident() not in many and len(many) == 4 * _MIN_BLOCKS_PER_THREAD
