"""The zoo's ResNets against the same networks written in torch.nn: keys, weights both ways, outputs, gradients.

torchvision is not a dependency, so its BasicBlock and ResNet layout are written here by hand
(torchvision/models/resnet.py): conv1, bn1, relu, conv2, bn2, downsample; conv1, bn1, relu,
layer1..layerN, avgpool, fc; ``resnet18`` with the 3×3 stride-1 stem and no max-pool.
"""
import copy
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import scratchnet
from scratchnet import nn, zoo
from scratchnet.spec import build_model, spec_of


class TorchPadShortcut(torch.nn.Module):
    """Option A as the common reproductions write it: every s-th pixel, zero channels on both sides."""

    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        self.before, self.after, self.stride = (out_channels - in_channels) // 2, \
            out_channels - in_channels - (out_channels - in_channels) // 2, stride

    def forward(self, x):
        return F.pad(x[:, :, ::self.stride, ::self.stride], (0, 0, 0, 0, self.before, self.after))


class TorchBasicBlock(torch.nn.Module):
    def __init__(self, inplanes, planes, stride=1, shortcut="B"):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(planes)
        self.relu = torch.nn.ReLU()
        self.conv2 = torch.nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = torch.nn.Sequential(torch.nn.Conv2d(inplanes, planes, 1, stride, bias=False),
                                                  torch.nn.BatchNorm2d(planes)) if shortcut == "B" \
                else TorchPadShortcut(inplanes, planes, stride)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class TorchResNet(torch.nn.Module):
    """torchvision.models.ResNet with BasicBlocks, a 3×3 stride-1 stem and no max-pool."""

    def __init__(self, in_channels, widths, blocks, shortcut, num_classes=10):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(widths[0])
        self.relu = torch.nn.ReLU()
        inplanes = widths[0]
        for index, planes in enumerate(widths):
            stride = 1 if index == 0 else 2
            layer = [TorchBasicBlock(inplanes, planes, stride, shortcut)]
            layer += [TorchBasicBlock(planes, planes, 1, shortcut) for _ in range(blocks - 1)]
            setattr(self, f"layer{index + 1}", torch.nn.Sequential(*layer))
            inplanes = planes
        self.avgpool = torch.nn.AdaptiveAvgPool2d(1)
        self.fc = torch.nn.Linear(widths[-1], num_classes)
        self.stages = len(widths)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        for index in range(self.stages):
            x = getattr(self, f"layer{index + 1}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


class TorchResidual(torch.nn.Module):
    def __init__(self, block):
        super().__init__()
        self.block, self.shortcut = block, torch.nn.Identity()

    def forward(self, x):
        return self.block(x) + self.shortcut(x)


def torch_resnet9_small(in_channels, num_classes=10):
    def conv_bn_relu(c_in, c_out):
        return [torch.nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), torch.nn.BatchNorm2d(c_out), torch.nn.ReLU()]

    def stage(c_in, c_out, residual):
        layers = conv_bn_relu(c_in, c_out) + [torch.nn.MaxPool2d(2)]
        if residual:
            layers.append(TorchResidual(torch.nn.Sequential(*conv_bn_relu(c_out, c_out), *conv_bn_relu(c_out, c_out))))
        return torch.nn.Sequential(*layers)

    return torch.nn.Sequential(OrderedDict([
        ("prep", torch.nn.Sequential(*conv_bn_relu(in_channels, 16))), ("layer1", stage(16, 32, True)),
        ("layer2", stage(32, 64, False)), ("layer3", stage(64, 128, True)),
        ("pool", torch.nn.AdaptiveMaxPool2d(1)), ("flatten", torch.nn.Flatten()),
        ("fc", torch.nn.Linear(128, num_classes, bias=False))]))


TORCH_MODELS = {
    "resnet20": lambda c: TorchResNet(c, (16, 32, 64), 3, "A"),
    "resnet32": lambda c: TorchResNet(c, (16, 32, 64), 5, "A"),
    "resnet56": lambda c: TorchResNet(c, (16, 32, 64), 9, "A"),
    "resnet18": lambda c: TorchResNet(c, (64, 128, 256, 512), 2, "B"),
    "resnet9-small": torch_resnet9_small,
}


def _numpy(t) -> np.ndarray:
    return t.detach().double().numpy() if isinstance(t, torch.Tensor) else np.asarray(t, dtype=np.float64)


def _relative_error(a, truth) -> float:
    return float(np.linalg.norm(_numpy(a) - truth) / max(np.linalg.norm(truth), 1e-12))


def _close(ours, truth, what, tolerance=None):
    """float64 (no ``tolerance``): elementwise to 1e-9, the same arithmetic. float32: our distance from
    the float64 truth, as a fraction of its norm, at most ``tolerance``."""
    truth = _numpy(truth)
    if tolerance is None:
        np.testing.assert_allclose(ours, truth, rtol=1e-9, atol=1e-9 * max(np.abs(truth).max(), 1), err_msg=what)
        return
    assert _relative_error(ours, truth) <= tolerance, f"{what}: {_relative_error(ours, truth):.2e} > {tolerance:.2e}"


def _float32_tolerance(truth: tuple, torch32: tuple) -> float:
    """1e-4, or ten times torch's own float32 error on this model (its worst tensor among output, dL/dx
    and parameter gradients): float32 rounding through 56 layers of train-mode BatchNorm moves some
    gradients by 1-2 % in torch as well, while float64 agrees to 1e-15."""
    (y, grad_x, grads), (y32, grad_x32, grads32) = truth, torch32
    errors = [_relative_error(y32, _numpy(y)), _relative_error(grad_x32, _numpy(grad_x))]
    errors += [_relative_error(grads32[k], _numpy(grads[k])) for k in grads]
    return max(1e-4, 10 * max(errors))


def _torch_step(model, x, grad_out, dtype):
    xt = torch.from_numpy(x).to(dtype).requires_grad_()
    yt = model.train()(xt)
    yt.backward(torch.from_numpy(grad_out).to(dtype))
    return yt, xt.grad, {k: p.grad for k, p in model.named_parameters()}


# float64 (the same arithmetic, elementwise) for each distinct design; resnet32/56 are resnet20 with more blocks.
@pytest.mark.parametrize("name, dtype", [(name, np.float32) for name in TORCH_MODELS] + [
    (name, np.float64) for name in ("resnet20", "resnet18", "resnet9-small")])
def test_zoo_resnet_matches_torch_with_weights_copied_both_ways(name, dtype):
    shape = (3, 16, 16)  # 32x32 would check the same arithmetic at four times the cost
    scratchnet.manual_seed(0)
    torch.manual_seed(0)
    _, ours = zoo.build(name, shape)
    theirs = TORCH_MODELS[name](shape[0])
    assert list(ours.state_dict()) == list(theirs.state_dict())
    # torch -> scratchnet, then a training step's forward and backward in both
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    ours.to(dtype)
    reference = copy.deepcopy(theirs).double()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, *shape)).astype(dtype)
    grad_out = rng.normal(size=(4, 10)).astype(dtype)
    truth = y, grad_x, grads = _torch_step(reference, x, grad_out, torch.float64)
    tolerance = None
    if dtype == np.float32:
        tolerance = _float32_tolerance(truth, _torch_step(theirs, x, grad_out, torch.float32))
    _close(ours.train()(x), y, "training-mode output", tolerance)
    _close(ours.backward(grad_out), grad_x, "input gradient", tolerance)
    for key, p in ours.named_parameters():
        assert p.grad.dtype == dtype
        _close(p.grad, grads[key], f"gradient of {key}", tolerance)
    for key, value in ours.state_dict().items():  # running statistics moved the same way
        _close(value, reference.state_dict()[key], f"buffer {key}", tolerance)
    # scratchnet -> torch: change our weights, copy them over, compare in eval mode
    for p in ours.parameters():
        p.data += 0.01 * rng.normal(size=p.shape).astype(dtype)
    reference.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in ours.state_dict().items()})
    with torch.no_grad():
        y = reference.eval()(torch.from_numpy(x).double())
        _close(ours.eval()(x), y, "eval-mode output after copying to torch", tolerance and 1e-4)


def test_resnet18_keys_are_torchvisions():
    _, model = zoo.build("resnet18", (3, 32, 32))
    keys = list(model.state_dict())
    assert keys[:6] == ["conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
                        "bn1.num_batches_tracked"]
    assert "layer2.0.downsample.0.weight" in keys and "layer4.1.bn2.running_mean" in keys
    assert keys[-2:] == ["fc.weight", "fc.bias"] and len(keys) == 122  # torchvision resnet18's count


@pytest.mark.parametrize("name, count", [("resnet20", 0.27e6), ("resnet32", 0.46e6), ("resnet56", 0.85e6)])
def test_cifar_resnets_have_the_papers_parameter_counts(name, count):
    assert zoo.num_parameters(name, (3, 32, 32)) == pytest.approx(count, rel=0.01)  # He et al. 2016, Table 6


def test_zoo_resnets_save_and_load_through_their_spec():
    spec, model = zoo.build("resnet20", (1, 28, 28))
    assert spec_of(model) == spec_of(build_model(spec))
    assert spec["children"]["layer2"]["layers"][0]["shortcut"] == "A"
