"""The model zoo: every architecture of SEEDS.md by name, plus stronger CNNs.

``build(name, input_shape=(C, H, W), num_classes=10)`` returns ``(spec, model)``: the
JSON-able layer spec (see ``scratchnet.spec``) and the ``nn.Sequential`` built from
it. Architectures adapt to the input: MLPs flatten C·H·W inputs and convolutional nets
compute their flatten sizes from H and W (LeNet-5 flattens 16·5·5 = 400 on 3×32×32 CIFAR-10
and 16·4·4 = 256 on 1×28×28 MNIST).

Parametric names: ``cnnK-N-P`` (SEEDS.md 002, e.g. ``cnn3-512-0.1``) and ``mlp2-H1-H2`` /
``mlp2-dropout-H1-H2`` (SEEDS.md 004, e.g. ``mlp2-512-256``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import nn
from .spec import build_model, build_node

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
    """

    def __init__(self, name: str, input_shape: tuple[int, int, int]):
        self.name, self.input_shape = name, tuple(input_shape)
        self._probe = np.zeros((1, *self.input_shape), dtype=np.float32)
        self.layers: list[dict] = []

    @property
    def shape(self) -> tuple[int, ...]:
        return self._probe.shape[1:]

    def add(self, type_: str, **args) -> "_Stack":
        layer = {"type": type_, **args}
        self.layers.append(layer)
        if type_ == "Linear":
            self._probe = np.zeros((1, args["out_features"]), dtype=np.float32)
            return self
        try:
            self._probe = build_node(layer, str(len(self.layers) - 1)).eval()(self._probe)
        except ValueError as err:
            raise ValueError(f"model {self.name} does not fit {self.input_shape[1]}x{self.input_shape[2]} images: "
                             f"layer {len(self.layers) - 1} ({type_}): {err}") from None
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

    def linear(self, out_features: int, init: dict | None = None) -> "_Stack":
        layer = {"in_features": self.shape[0], "out_features": out_features}
        return self.add("Linear", **layer, **({"init": init} if init else {}))

    def spec(self) -> dict:
        return {"layers": self.layers}


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
          num_classes: int = 10) -> tuple[dict, nn.Sequential]:
    """``(spec, model)`` for zoo model ``name``; the model draws its initial weights from
    scratchnet's default generator (seed it with ``scratchnet.manual_seed``)."""
    model_spec = spec(name, input_shape, num_classes)
    return model_spec, build_model(model_spec, input_shape, num_classes)


def num_parameters(name: str, input_shape: tuple[int, int, int] = MNIST_SHAPE, num_classes: int = 10) -> int:
    """The number of trainable values of zoo model ``name`` on ``input_shape``, counted from its spec
    without building it (dense10k alone has 23 million weights to draw)."""
    return sum(_layer_parameters(layer) for layer in spec(name, input_shape, num_classes)["layers"])


def _layer_parameters(layer: dict) -> int:
    """Weights and biases of one zoo layer (zoo layers all have biases and square kernels)."""
    if layer["type"] == "Linear":
        return (layer["in_features"] + 1) * layer["out_features"]
    if layer["type"] == "Conv2d":
        return (layer["in_channels"] * layer["kernel_size"] ** 2 + 1) * layer["out_channels"]
    if layer["type"] == "BatchNorm2d":
        return 2 * layer["num_features"]  # weight and bias; running statistics are buffers
    return 0
