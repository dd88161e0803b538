"""The zoo's ResNets written in torch.nn by hand, as references for tests and benchmarks.

torchvision is not a dependency, so its BasicBlock and ResNet layout are written here from
torchvision/models/resnet.py: conv1, bn1, relu, conv2, bn2, downsample; conv1, bn1, relu,
layer1..layerN, avgpool, fc; with the 3×3 stride-1 stem and no max-pool.
"""
from collections import OrderedDict

import torch
import torch.nn.functional as F


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
