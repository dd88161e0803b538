"""The model zoo: every architecture of SEEDS.md by name, plus stronger CNNs and ResNets.

``build(name, input_shape=(C, H, W), num_classes=10)`` returns ``(spec, model)``: the
JSON-able spec (see ``scratchnet.spec``) and the model built from it. Architectures adapt
to the input: MLPs flatten C·H·W inputs and convolutional nets take their flatten sizes
from a forward pass of each layer on a zero image (LeNet-5 flattens 16·5·5 = 400 on 3×32×32
CIFAR-10 and 16·4·4 = 256 on 1×28×28 MNIST); the ResNets end in a global pool and fit both.

ResNets (trees of named children with torch's state_dict keys): ``resnet20``/``32``/``56``,
He et al. 2016's CIFAR networks with option-A shortcuts (zero-padded identity, no
parameters: the paper's choice for CIFAR, which keeps its parameter counts, 0.27 M for
resnet20); ``resnet18``, torchvision's layout with a 3×3 stride-1 stem and no max-pool
(option-B 1×1-conv shortcuts, as torchvision); ``resnet9-small``, the DAWNBench ResNet-9
at a quarter of its width, small enough to train on two CPU cores.

Parametric names: ``cnnK-N-P`` (SEEDS.md 002, e.g. ``cnn3-512-0.1``) and ``mlp2-H1-H2`` /
``mlp2-dropout-H1-H2`` (SEEDS.md 004, e.g. ``mlp2-512-256``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import nn
from .spec import CONTAINERS, build_model, build_node, children, root_node

MNIST_SHAPE = (1, 28, 28)
CIFAR_SHAPE = (3, 32, 32)

# SEEDS.md 003/004: biases start at zero; 004 draws weights from N(0, 1) / √fan_in.
NORMAL_FAN_IN = {"weight": {"fn": "kaiming_normal_", "nonlinearity": "linear"}, "bias": {"fn": "zeros_"}}
# He et al.: N(0, 2/fan_in) keeps activations from shrinking through a deep ReLU stack.
HE_NORMAL = {"weight": {"fn": "kaiming_normal_", "nonlinearity": "relu"}, "bias": {"fn": "zeros_"}}


class _Stack:
    """Layers appended in order while tracking the shape they produce: (C, H, W), then (F,).

    Shapes are not worked out by hand: each layer is built by the engine and run (eval mode)
    on a one-image zero batch, so the zoo uses exactly the output-size rules of the layers
    themselves. A Linear layer is the exception: its output is ``out_features`` by
    definition, and building it would draw all its weights (dense10k's are 23 million).
    Layers added with a ``name`` make the spec a tree with named children (``conv1``,
    ``layer1``, ``fc``: torch's keys); without names it is the flat ``{"layers": [...]}``.
    """

    def __init__(self, name: str, input_shape: tuple[int, int, int]):
        self.name, self.input_shape = name, tuple(input_shape)
        self._probe = np.zeros((1, *self.input_shape), dtype=np.float32)
        self.layers: list[dict] = []
        self.names: list[str | None] = []

    @property
    def shape(self) -> tuple[int, ...]:
        return self._probe.shape[1:]

    def add(self, type_: str, name: str | None = None, **args) -> "_Stack":
        return self.node({"type": type_, **args}, name)

    def node(self, node: dict, name: str | None = None) -> "_Stack":
        """Append any spec node (a layer, a block, a Sequential stage) and run it on the probe."""
        self.layers.append(node)
        self.names.append(name)
        if node["type"] == "Linear":
            self._probe = np.zeros((1, node["out_features"]), dtype=np.float32)
            return self
        try:
            self._probe = build_node(node, name or str(len(self.layers) - 1)).eval()(self._probe)
        except ValueError as err:
            raise ValueError(f"model {self.name} does not fit {self.input_shape[1]}x{self.input_shape[2]} images: "
                             f"layer {name or len(self.layers) - 1} ({node['type']}): {err}") from None
        return self

    def conv(self, out_channels: int, kernel_size: int, padding: int = 0) -> "_Stack":
        return self.add("Conv2d", in_channels=self.shape[0], out_channels=out_channels, kernel_size=kernel_size,
                        padding=padding)

    def pool(self, kernel_size: int = 2) -> "_Stack":
        return self.add("MaxPool2d", kernel_size=kernel_size)

    def batchnorm(self) -> "_Stack":
        return self.add("BatchNorm2d", num_features=self.shape[0])

    def flatten(self) -> "_Stack":
        return self.add("Flatten")

    def linear(self, out_features: int, init: dict | None = None, name: str | None = None,
               bias: bool = True) -> "_Stack":
        layer = {"in_features": self.shape[0], "out_features": out_features, **({} if bias else {"bias": False})}
        return self.add("Linear", name, **layer, **({"init": init} if init else {}))

    def spec(self) -> dict:
        if all(name is None for name in self.names):
            return {"layers": self.layers}
        return {"type": "Sequential", "children": dict(zip(self.names, self.layers))}


@dataclass(frozen=True)
class Architecture:
    """A zoo entry: ``pattern`` matches its names; ``layers(stack, match, num_classes)`` fills a _Stack."""

    template: str
    example: str
    pattern: str
    description: str
    layers: Callable[[_Stack, re.Match, int], _Stack]


def _mlp(stack: _Stack, hidden: list[int], num_classes: int, activation: str = "ReLU", dropout: float = 0.0,
         init: dict | None = None) -> _Stack:
    stack.flatten()
    for size in hidden:
        stack.linear(size, init).add(activation)
        if dropout:
            stack.add("Dropout", p=dropout)
    return stack.linear(num_classes, init)


def _cnn_002_features(stack: _Stack, k: int) -> _Stack:
    """SEEDS.md 002's convolutional part: two (Conv k×k, BatchNorm, ReLU, MaxPool 2) blocks, 32 and 64 maps."""
    for channels in (32, 64):
        stack.conv(channels, k).batchnorm().add("ReLU").pool(2)
    return stack.flatten()


def _cnn_k_n_p(stack: _Stack, match: re.Match, num_classes: int) -> _Stack:
    k, n, p = int(match["k"]), int(match["n"]), float(match["p"])
    if not 0 <= p < 1:
        raise ValueError(f"{stack.name}: the dropout p must be in [0, 1), got {p}")
    _cnn_002_features(stack, k).add("Dropout", p=p).add("ReLU")
    return stack.linear(n).add("ReLU").add("Dropout", p=p).linear(num_classes)


def _mlp2(stack: _Stack, match: re.Match, num_classes: int, dropout: float) -> _Stack:
    hidden = [int(match["h1"] or 256), int(match["h2"] or 128)]
    return _mlp(stack, hidden, num_classes, dropout=dropout, init=NORMAL_FAN_IN)


def _vgg(stack: _Stack, widths: tuple[int, ...], hidden: int, num_classes: int) -> _Stack:
    """Blocks of two (3×3 same-padding Conv, BatchNorm, ReLU) and a 2×2 max-pool, then a dense head."""
    for width in widths:
        for _ in range(2):
            stack.conv(width, 3, padding=1).batchnorm().add("ReLU")
        stack.pool(2)
    stack.flatten().add("Dropout", p=0.3)
    return stack.linear(hidden).add("ReLU").add("Dropout", p=0.3).linear(num_classes)


# torchvision's ResNet initialisation: convolutions N(0, 2/fan_out), BatchNorm weight 1 and bias 0.
CONV_FAN_OUT = {"fn": "kaiming_normal_", "mode": "fan_out", "nonlinearity": "relu"}


def _conv_bn(in_channels: int, out_channels: int, stride: int = 1) -> list[dict]:
    """A 3×3 same-padding convolution without bias and its BatchNorm (the bias would be BN's beta)."""
    return [{"type": "Conv2d", "in_channels": in_channels, "out_channels": out_channels, "kernel_size": 3,
             "stride": stride, "padding": 1, "bias": False, "init": {"weight": CONV_FAN_OUT}},
            {"type": "BatchNorm2d", "num_features": out_channels}]


def _basic_block(inplanes: int, planes: int, stride: int, shortcut: str) -> dict:
    init = {"conv1.weight": CONV_FAN_OUT, "conv2.weight": CONV_FAN_OUT}
    if shortcut == "B" and (stride != 1 or inplanes != planes):
        init["downsample.0.weight"] = CONV_FAN_OUT
    return {"type": "BasicBlock", "inplanes": inplanes, "planes": planes, "stride": stride, "shortcut": shortcut,
            "init": init}


def _resnet(stack: _Stack, widths: tuple[int, ...], blocks: int, shortcut: str, num_classes: int) -> _Stack:
    """Stem (3×3 conv, BN, ReLU), one stage of ``blocks`` BasicBlocks per width (stride 2 from the
    second stage on), global average pool, fc: torchvision's names (conv1, bn1, layer1.0.conv1, fc)."""
    conv, bn = _conv_bn(stack.shape[0], widths[0])
    stack.node(conv, "conv1").node(bn, "bn1").add("ReLU", "relu")
    for index, planes in enumerate(widths):
        first = _basic_block(stack.shape[0], planes, 1 if index == 0 else 2, shortcut)
        rest = [_basic_block(planes, planes, 1, shortcut) for _ in range(blocks - 1)]
        stack.node({"type": "Sequential", "layers": [first, *rest]}, f"layer{index + 1}")
    stack.add("AdaptiveAvgPool2d", "avgpool", output_size=1).add("Flatten", "flatten")
    return stack.linear(num_classes, name="fc")


def _resnet_cifar(stack: _Stack, depth: int, num_classes: int) -> _Stack:
    """He et al. 2016, section 4.2: 6n+2 layers, stages of n blocks with 16, 32, 64 maps, option A."""
    return _resnet(stack, (16, 32, 64), (depth - 2) // 6, "A", num_classes)


def _resnet9_small(stack: _Stack, num_classes: int) -> _Stack:
    """DAWNBench ResNet-9 (Myrtle.ai) at a quarter of its width: prep, three stages of conv-BN-ReLU-maxpool
    with a residual pair of conv-BN-ReLU after the first and third, global max pool, a bias-free fc."""
    def conv_bn_relu(c_in: int, c_out: int) -> list[dict]:
        return [*_conv_bn(c_in, c_out), {"type": "ReLU"}]

    prep = 16
    stack.node({"type": "Sequential", "layers": conv_bn_relu(stack.shape[0], prep)}, "prep")
    for index, (width, residual) in enumerate(((2 * prep, True), (4 * prep, False), (8 * prep, True))):
        layers = [*conv_bn_relu(stack.shape[0], width), {"type": "MaxPool2d", "kernel_size": 2}]
        if residual:
            block = {"type": "Sequential", "layers": conv_bn_relu(width, width) + conv_bn_relu(width, width)}
            layers.append({"type": "Residual", "block": block})
        stack.node({"type": "Sequential", "layers": layers}, f"layer{index + 1}")
    stack.add("AdaptiveMaxPool2d", "pool", output_size=1).add("Flatten", "flatten")
    return stack.linear(num_classes, name="fc", bias=False)


ARCHITECTURES = (
    Architecture("cnet-mlp", "cnet-mlp", r"cnet-mlp",
                 "SEEDS 000: 784-256-128-10 MLP, sigmoid after every layer incl. the output (train with MSE)",
                 lambda s, m, k: _mlp(s, [256, 128], k, activation="Sigmoid").add("Sigmoid")),
    Architecture("mlp6", "mlp6", r"mlp6",
                 "SEEDS 003: 784-512-256-128-64-32-10, five hidden ReLU layers, He-normal weights, zero biases",
                 lambda s, m, k: _mlp(s, [512, 256, 128, 64, 32], k, init=HE_NORMAL)),
    Architecture("mlp2[-H1-H2]", "mlp2", r"mlp2(?:-(?P<h1>\d+)-(?P<h2>\d+))?",
                 "SEEDS 004: 784-H1-H2-10 ReLU MLP (default 256-128), weights N(0,1)/sqrt(fan_in), zero biases",
                 lambda s, m, k: _mlp2(s, m, k, dropout=0.0)),
    Architecture("mlp2-dropout[-H1-H2]", "mlp2-dropout", r"mlp2-dropout(?:-(?P<h1>\d+)-(?P<h2>\d+))?",
                 "SEEDS 004: mlp2 with dropout p=0.2 after each hidden layer",
                 lambda s, m, k: _mlp2(s, m, k, dropout=0.2)),
    Architecture("conv1", "conv1", r"conv1",
                 "SEEDS 001.1: Conv2d(C,1,4) -> flatten (625) -> Linear(625,10) -> ReLU",
                 lambda s, m, k: s.conv(1, 4).flatten().linear(k).add("ReLU")),
    Architecture("conv2", "conv2", r"conv2",
                 "SEEDS 001.2: Conv2d(C,20,4)+ReLU -> Conv2d(20,1,3)+ELU -> flatten (529) -> Linear(529,10) -> ReLU",
                 lambda s, m, k: s.conv(20, 4).add("ReLU").conv(1, 3).add("ELU").flatten().linear(k).add("ReLU")),
    Architecture("dense10k", "dense10k", r"dense10k",
                 "SEEDS 001.3a: Conv2d(C,3,5)+ReLU -> flatten -> Linear(·,10000)+ReLU -> Linear(10000,10)",
                 lambda s, m, k: s.conv(3, 5).add("ReLU").flatten().linear(10_000).add("ReLU").linear(k)),
    Architecture("lenet5", "lenet5", r"lenet5",
                 "SEEDS 001.3b: LeNet-5, Conv(6,5)-pool-Conv(16,5)-pool-120-84-10, ReLU after each conv/hidden "
                 "linear (the seed names no activation; PyTorch's tutorial LeNet uses ReLU)",
                 lambda s, m, k: s.conv(6, 5).add("ReLU").pool(2).conv(16, 5).add("ReLU").pool(2).flatten()
                 .linear(120).add("ReLU").linear(84).add("ReLU").linear(k)),
    Architecture("cnnK-N-P", "cnn3-512-0.1", r"cnn(?P<k>\d+)-(?P<n>\d+)-(?P<p>\d*\.?\d+)",
                 "SEEDS 002: [Conv k×k, BN, ReLU, MaxPool]x2 (32, 64 maps) -> dropout p, ReLU -> Linear(·,N)+ReLU "
                 "-> dropout p -> Linear(N,10)", _cnn_k_n_p),
    Architecture("cnn-nahuel", "cnn-nahuel", r"cnn-nahuel",
                 "SEEDS 002: cnn3's convolutional part -> Linear 600 -> Linear 120 -> 10, ReLU, dropout 0.25",
                 lambda s, m, k: _cnn_002_features(s, 3).linear(600).add("ReLU").add("Dropout", p=0.25)
                 .linear(120).add("ReLU").add("Dropout", p=0.25).linear(k)),
    Architecture("ann-juan", "ann-juan", r"ann-juan",
                 "SEEDS 002: one hidden ReLU layer of 512 with dropout 0.25",
                 lambda s, m, k: _mlp(s, [512], k, dropout=0.25)),
    Architecture("vgg-small", "vgg-small", r"vgg-small",
                 "stronger, for MNIST-like 28x28: VGG blocks (32, 64 maps, BN) -> dropout -> 256 -> 10",
                 lambda s, m, k: _vgg(s, (32, 64), 256, k)),
    Architecture("vgg-cifar", "vgg-cifar", r"vgg-cifar",
                 "stronger, for CIFAR-10 32x32: VGG blocks (32, 64, 128 maps, BN) -> dropout -> 256 -> 10",
                 lambda s, m, k: _vgg(s, (32, 64, 128), 256, k)),
    Architecture("resnet20", "resnet20", r"resnet20",
                 "He et al. 2016 CIFAR ResNet-20: 3x3 stem, 3 stages of 3 BasicBlocks (16, 32, 64 maps), "
                 "option-A (zero-padding) shortcuts, global average pool", lambda s, m, k: _resnet_cifar(s, 20, k)),
    Architecture("resnet32", "resnet32", r"resnet32",
                 "He et al. 2016 CIFAR ResNet-32: as resnet20 with 5 blocks per stage",
                 lambda s, m, k: _resnet_cifar(s, 32, k)),
    Architecture("resnet56", "resnet56", r"resnet56",
                 "He et al. 2016 CIFAR ResNet-56: as resnet20 with 9 blocks per stage",
                 lambda s, m, k: _resnet_cifar(s, 56, k)),
    Architecture("resnet18", "resnet18", r"resnet18",
                 "torchvision resnet18 for 32x32 input: 3x3 stride-1 stem, no max-pool, 4 stages of 2 BasicBlocks "
                 "(64-512 maps, 1x1-conv shortcuts), torchvision's state_dict keys",
                 lambda s, m, k: _resnet(s, (64, 128, 256, 512), 2, "B", k)),
    Architecture("resnet9-small", "resnet9-small", r"resnet9-small",
                 "DAWNBench ResNet-9 (Myrtle.ai) at quarter width (16-128 maps) for 2 CPU cores: conv-pool stages "
                 "with two residual pairs, global max pool", lambda s, m, k: _resnet9_small(s, k)),
)


def _architecture(name: str) -> tuple[Architecture, re.Match]:
    for arch in ARCHITECTURES:
        match = re.fullmatch(arch.pattern, name)
        if match:
            return arch, match
    raise ValueError(f"unknown model {name!r}; the zoo has {', '.join(a.template for a in ARCHITECTURES)} "
                     "(see `scratchnet models`), or pass a .json/.toml file describing the layers")


def names() -> list[str]:
    """One concrete name per zoo architecture (parametric ones by their example)."""
    return [arch.example for arch in ARCHITECTURES]


def describe(name: str) -> str:
    """The description of the architecture ``name`` belongs to."""
    return _architecture(name)[0].description


def spec(name: str, input_shape: tuple[int, int, int] = MNIST_SHAPE, num_classes: int = 10) -> dict:
    """The layer spec of zoo model ``name`` for images of ``input_shape`` (C, H, W)."""
    arch, match = _architecture(name)
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (channels, height, width), got {input_shape}")
    return arch.layers(_Stack(name, input_shape), match, num_classes).spec()


def build(name: str, input_shape: tuple[int, int, int] = MNIST_SHAPE,
          num_classes: int = 10) -> tuple[dict, nn.Module]:
    """``(spec, model)`` for zoo model ``name``; the model draws its initial weights from
    scratchnet's default generator (seed it with ``scratchnet.manual_seed``)."""
    model_spec = spec(name, input_shape, num_classes)
    return model_spec, build_model(model_spec, input_shape, num_classes)


def num_parameters(name: str, input_shape: tuple[int, int, int] = MNIST_SHAPE, num_classes: int = 10) -> int:
    """The number of trainable values of zoo model ``name`` on ``input_shape``, counted from its spec:
    Linear layers by their sizes, without drawing their weights (dense10k alone has 23 million), every
    other layer or block by building it alone."""
    return _node_parameters(root_node(spec(name, input_shape, num_classes)))


def _node_parameters(node: dict) -> int:
    if node["type"] == "Linear":
        return (node["in_features"] + node.get("bias", True)) * node["out_features"]
    if node["type"] in CONTAINERS:
        return sum(_node_parameters(child) for _, child in children(node))
    return build_node(node).num_parameters()
