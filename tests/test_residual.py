"""Modules with branches: a user-written residual block, BasicBlock, and calls that would corrupt gradients."""
from collections import OrderedDict

import numpy as np
import pytest
import torch

import scratchnet
from scratchnet import nn
from gradcheck import check_module_grads


class ResidualBlock(nn.Module):
    """README.md's worked example: relu(block(x) + shortcut(x)), backward through both paths."""

    def __init__(self, channels: int):
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels),
                                   nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1))
        self.shortcut = nn.Identity()
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.block(x) + self.shortcut(x))

    def backward(self, grad_output):
        g = self.relu.backward(grad_output)
        return self.block.backward(g) + self.shortcut.backward(g)


class TorchResidualBlock(torch.nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.block = torch.nn.Sequential(torch.nn.Conv2d(channels, channels, 3, padding=1),
                                         torch.nn.BatchNorm2d(channels), torch.nn.ReLU(),
                                         torch.nn.Conv2d(channels, channels, 3, padding=1))
        self.shortcut = torch.nn.Identity()
        self.relu = torch.nn.ReLU()

    def forward(self, x):
        return self.relu(self.block(x) + self.shortcut(x))


def test_user_written_residual_block_gradients_match_finite_differences():
    scratchnet.manual_seed(0)
    check_module_grads(ResidualBlock(2), np.random.default_rng(0).normal(size=(2, 2, 4, 4)))


def test_user_written_modules_have_torchs_state_dict_keys_and_outputs():
    ours = nn.Sequential(OrderedDict([("layer1", nn.Sequential(ResidualBlock(3), ResidualBlock(3))),
                                      ("flatten", nn.Flatten()), ("fc", nn.Linear(3 * 4 * 4, 5))]))
    theirs = torch.nn.Sequential(OrderedDict([("layer1", torch.nn.Sequential(TorchResidualBlock(3),
                                                                             TorchResidualBlock(3))),
                                              ("flatten", torch.nn.Flatten()), ("fc", torch.nn.Linear(48, 5))]))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert "layer1.0.block.1.running_mean" in ours.state_dict()
    ours.load_state_dict(theirs.state_dict())
    x = np.random.default_rng(1).normal(size=(4, 3, 4, 4)).astype(np.float32)
    expected = theirs(torch.from_numpy(x))
    np.testing.assert_allclose(ours(x), expected.detach().numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shortcut, stride, inplanes", [("B", 2, 2), ("A", 2, 2), ("B", 1, 4)])
def test_basic_block_gradients_match_finite_differences(shortcut, stride, inplanes):
    scratchnet.manual_seed(1)
    block = nn.BasicBlock(inplanes, 4, stride=stride, shortcut=shortcut)
    check_module_grads(block, np.random.default_rng(2).normal(size=(2, inplanes, 4, 4)))


def test_pad_shortcut_keeps_every_other_pixel_between_zero_channels():
    x = np.arange(2 * 2 * 4 * 4, dtype=np.float64).reshape(2, 2, 4, 4)
    y = nn.PadShortcut(2, 6, stride=2)(x)
    assert y.shape == (2, 6, 2, 2)
    np.testing.assert_array_equal(y[:, 2:4], x[:, :, ::2, ::2])
    assert not y[:, :2].any() and not y[:, 4:].any()
    check_module_grads(nn.PadShortcut(2, 5, stride=2), x)


class SharesOneReLU(ResidualBlock):
    """torchvision's habit: one self.relu used twice in forward."""

    def forward(self, x):
        return self.relu(self.block(x) + self.relu(x))


def test_a_module_called_twice_in_one_forward_fails_clearly():
    model = nn.Sequential(OrderedDict([("stem", nn.Conv2d(2, 2, 1)), ("layer1", SharesOneReLU(2))]))
    x = np.ones((1, 2, 4, 4), np.float32)
    with pytest.raises(RuntimeError, match=r"layer1\.relu \(ReLU\) was called twice in one forward pass.*relu1"):
        model(x)
    relu = nn.ReLU()
    with pytest.raises(RuntimeError, match=r"^0 and 2 \(ReLU\) was called twice"):
        nn.Sequential(relu, nn.Linear(3, 3), relu)(np.ones((2, 3), np.float32))
    model.eval()(x)  # eval forwards save nothing for backward: sharing is harmless there


def test_separate_forward_passes_may_reuse_a_module():
    layer = nn.Linear(3, 2)
    x = np.ones((4, 3), np.float32)
    for _ in range(2):  # each model(x) is its own pass; backward belongs to the latest
        layer(x)
    layer.backward(np.ones((4, 2), np.float32))
    np.testing.assert_allclose(layer.weight.grad, 4 * np.ones((2, 3)))


def test_residual_sum_of_mismatched_shapes_names_the_block_and_both_shapes():
    model = nn.Sequential(OrderedDict([("layer2", nn.Sequential(nn.BasicBlock(4, 8, stride=2, shortcut="B")))]))
    model.layer2[0].downsample = nn.Identity()  # a wrong edit: the shortcut no longer matches
    with pytest.raises(ValueError, match=r"^layer2\.0: BasicBlock: the block's output \(1, 8, 2, 2\) and the "
                                         r"shortcut's output \(1, 4, 4, 4\)"):
        model(np.zeros((1, 4, 4, 4), np.float32))


def test_a_finished_forward_pass_keeps_no_reference_to_the_model():
    import gc
    import weakref

    model = nn.Sequential(nn.Linear(2, 2))
    model(np.ones((1, 2), np.float32))
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None
