"""Parity with PyTorch: Conv2d, pooling, BatchNorm and a small CNN give torch's values and gradients."""
import numpy as np
import pytest
import torch

from parity import assert_close, assert_same_step, randn, to_torch_state

from scratchnet import nn


@pytest.mark.parametrize("args, kwargs, shape", [
    ((3, 6, 5), {}, (4, 3, 32, 32)),                                       # LeNet-5's first layer
    ((4, 5, 3), dict(stride=2, padding=1), (2, 4, 9, 8)),
    ((2, 3, (2, 4)), dict(stride=(2, 1), padding=(0, 2), bias=False), (3, 2, 7, 6)),
    ((1, 32, 3), {}, (40, 1, 28, 28)),                                     # many samples: several blocks
    ((32, 64, 3), {}, (12, 32, 13, 13)),                                   # many input channels
    ((8, 4, 3), dict(stride=2, padding=1), (3, 8, 7, 6)),
])
def test_conv2d_matches_torch(args, kwargs, shape):
    ours = nn.Conv2d(*args, **kwargs)
    theirs = torch.nn.Conv2d(*args, **kwargs)
    theirs.load_state_dict(to_torch_state(ours))
    assert_same_step(ours, theirs, randn(shape, 0))


@pytest.mark.parametrize("ours, theirs", [
    (nn.MaxPool2d(2), torch.nn.MaxPool2d(2)),
    (nn.MaxPool2d(3, stride=2, padding=1), torch.nn.MaxPool2d(3, stride=2, padding=1)),
    (nn.MaxPool2d((2, 3), stride=(1, 2)), torch.nn.MaxPool2d((2, 3), stride=(1, 2))),
    (nn.AvgPool2d(2), torch.nn.AvgPool2d(2)),
    (nn.AvgPool2d(3, stride=2, padding=1), torch.nn.AvgPool2d(3, stride=2, padding=1)),
    (nn.AvgPool2d(3, 2, 1, count_include_pad=False), torch.nn.AvgPool2d(3, 2, 1, count_include_pad=False)),
], ids=repr)
def test_pooling_matches_torch(ours, theirs):
    assert_same_step(ours, theirs, randn((2, 3, 11, 9), 0))


def test_maxpool_ties_go_to_the_first_maximum_like_torch():
    x = np.round(randn((2, 3, 8, 8), 0)).clip(0, None)  # ReLU-like input: many equal zeros
    assert_same_step(nn.MaxPool2d(2), torch.nn.MaxPool2d(2), x)
    assert_same_step(nn.MaxPool2d(3, stride=1), torch.nn.MaxPool2d(3, stride=1), x)


@pytest.mark.parametrize("cls, torch_cls, shape, kwargs", [
    (nn.BatchNorm1d, torch.nn.BatchNorm1d, (8, 3), {}),
    (nn.BatchNorm1d, torch.nn.BatchNorm1d, (4, 3, 5), dict(momentum=None)),
    (nn.BatchNorm2d, torch.nn.BatchNorm2d, (4, 3, 5, 6), dict(momentum=0.3, eps=1e-3)),
    (nn.BatchNorm2d, torch.nn.BatchNorm2d, (4, 3, 5, 6), dict(momentum=None)),
    (nn.BatchNorm2d, torch.nn.BatchNorm2d, (4, 3, 2, 2), dict(affine=False)),
    (nn.BatchNorm2d, torch.nn.BatchNorm2d, (4, 3, 2, 2), dict(track_running_stats=False)),
])
def test_batchnorm_matches_torch_in_training_and_eval(cls, torch_cls, shape, kwargs):
    ours, theirs = cls(3, **kwargs), torch_cls(3, **kwargs)
    if ours.affine:
        ours.weight.data[:] = [0.5, 1.5, -2.0]
        ours.bias.data[:] = [0.1, -0.3, 2.0]
    theirs.load_state_dict(to_torch_state(ours))
    for step in range(4):
        x = randn(shape, step) * 3 + step
        assert_same_step(ours, theirs, x, seed=10 + step)
        ours.zero_grad()
        theirs.zero_grad()
    expected = theirs.state_dict()
    assert list(ours.state_dict()) == list(expected)
    for key, value in ours.state_dict().items():
        assert_close(value, expected[key].numpy(), key)
    x = randn(shape, 9)
    assert_close(ours.eval()(x), theirs.eval()(torch.from_numpy(x)).detach().numpy(), "eval output")


def small_cnn(lib):
    return lib.Sequential(
        lib.Conv2d(3, 6, 3, padding=1), lib.BatchNorm2d(6), lib.ReLU(), lib.MaxPool2d(2),
        lib.Conv2d(6, 8, 3), lib.BatchNorm2d(8), lib.ReLU(), lib.AvgPool2d(2),
        lib.Flatten(), lib.Linear(8 * 2 * 2, 16), lib.BatchNorm1d(16), lib.ReLU(), lib.Linear(16, 5),
    )


def test_small_cnn_matches_torch_from_the_same_state_dict():
    ours, theirs = small_cnn(nn), small_cnn(torch.nn)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
           [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    theirs.load_state_dict(to_torch_state(ours))
    for step in range(2):
        assert_same_step(ours, theirs, randn((6, 3, 14, 14), step), seed=5 + step)
        ours.zero_grad()
        theirs.zero_grad()
    x = randn((3, 3, 14, 14), 7)
    assert_close(ours.eval()(x), theirs.eval()(torch.from_numpy(x)).detach().numpy(), "eval output")


def test_torch_weights_load_into_scratchnet():
    theirs = small_cnn(torch.nn)
    theirs.train()(torch.from_numpy(randn((4, 3, 14, 14), 0)))  # non-trivial running stats
    ours = small_cnn(nn)
    ours.load_state_dict(theirs.state_dict())
    assert int(ours.state_dict()["1.num_batches_tracked"]) == 1
    x = randn((3, 3, 14, 14), 1)
    assert_close(ours.eval()(x), theirs.eval()(torch.from_numpy(x)).detach().numpy(), "eval output")
