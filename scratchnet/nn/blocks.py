"""Residual blocks: a module with a branch, written by hand, and He et al.'s option-A shortcut.

``BasicBlock`` is also the worked example of a user-written module with two paths. Its
``forward`` computes ``relu(block(x) + shortcut(x))``; its ``backward`` undoes the final
ReLU, sends the same gradient down both paths and adds what comes back, because x feeds
both of them::

    class BasicBlock(nn.Module):
        def __init__(self, inplanes, planes, stride=1):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.relu1 = nn.ReLU()
            self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.relu2 = nn.ReLU()             # one module per use: see below
            self.downsample = nn.Identity()    # or a strided 1x1 conv + BN when the shape changes

        def forward(self, x):
            out = self.relu1(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu2(out + self.downsample(x))

        def backward(self, grad_output):
            g = self.relu2.backward(grad_output)   # dL/d(sum): each summand receives it whole
            g_block = self.conv1.backward(self.bn1.backward(self.relu1.backward(
                self.conv2.backward(self.bn2.backward(g)))))
            return g_block + self.downsample.backward(g)   # x fed both paths: gradients add

torchvision's BasicBlock calls one ``self.relu`` twice; in scratchnet each module keeps
only its last forward's saved values, so calling a module twice in one forward raises an
error instead of giving wrong gradients. ReLU has no parameters, so ``relu1``/``relu2``
leave the ``state_dict`` keys exactly torchvision's: ``conv1.weight``, ``bn1.weight``,
``bn1.bias``, ``bn1.running_mean``, ``bn1.running_var``, ``bn1.num_batches_tracked``, ...,
``downsample.0.weight``, ``downsample.1.*``.
"""
from __future__ import annotations

import numpy as np

from .activation import ReLU
from .batchnorm import BatchNorm2d
from .container import Identity, Sequential, check_same_shape
from .conv import Conv2d
from .module import Module

SHORTCUTS = ("A", "B")


class BasicBlock(Module):
    """Two 3×3 convolutions with BatchNorm and a shortcut: (N, inplanes, H, W) -> (N, planes, H/s, W/s).

    The first convolution has stride ``stride`` (s). When the shape changes (s != 1 or
    inplanes != planes) the shortcut adapts x, as He et al. 2016 name the options:
    ``shortcut="B"`` (torchvision): ``downsample`` = 1×1 Conv2d with stride s, then
    BatchNorm2d, learned; ``shortcut="A"`` (the CIFAR ResNets of the paper): ``downsample``
    = ``PadShortcut``, every s-th pixel with zero channels added, no parameters. Otherwise
    the shortcut is the identity. See the module docstring for forward and backward.
    """

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, shortcut: str = "B"):
        super().__init__()
        if shortcut not in SHORTCUTS:
            raise ValueError(f"BasicBlock shortcut must be 'A' (zero-padding, no parameters) or 'B' "
                             f"(1x1 convolution + BatchNorm), got {shortcut!r}")
        self.conv1 = Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = BatchNorm2d(planes)
        self.relu1 = ReLU()
        self.conv2 = Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = BatchNorm2d(planes)
        self.relu2 = ReLU()
        if stride == 1 and inplanes == planes:
            self.downsample = Identity()
        elif shortcut == "B":
            self.downsample = Sequential(Conv2d(inplanes, planes, 1, stride=stride, bias=False), BatchNorm2d(planes))
        else:
            self.downsample = PadShortcut(inplanes, planes, stride)

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = self.downsample(x)
        check_same_shape(self, out, identity)
        return self.relu2(out + identity)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        g = self.relu2.backward(grad_output)
        g_block = self.conv1.backward(self.bn1.backward(self.relu1.backward(self.conv2.backward(self.bn2.backward(g)))))
        return g_block + self.downsample.backward(g)


class PadShortcut(Module):
    """He et al.'s option-A shortcut: (N, C, H, W) -> (N, C_out, ⌈H/s⌉, ⌈W/s⌉), no parameters.

    y = x[:, :, ::s, ::s] with (C_out - C) zero channels added, half before and half after
    (before = (C_out - C) // 2), as the common PyTorch reproductions of the CIFAR ResNets
    do. Backward: dL/dx is zero except at the kept pixels, which receive dL/dy's middle
    C channels: dL/dx[:, :, ::s, ::s] = dL/dy[:, before:before + C].
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(f"PadShortcut adds channels: out_channels ({out_channels}) must be >= in_channels "
                             f"({in_channels})")
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self._input_shape = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"{self!r}: expected input of shape (N, {self.in_channels}, H, W), got {x.shape}")
        s, before = self.stride, (self.out_channels - self.in_channels) // 2
        kept = x[:, :, ::s, ::s]
        y = np.zeros((x.shape[0], self.out_channels, *kept.shape[2:]), dtype=x.dtype)
        y[:, before:before + self.in_channels] = kept
        self._input_shape = x.shape if self.keeps_state else None
        return y

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        shape = self._saved(self._input_shape)
        s, before = self.stride, (self.out_channels - self.in_channels) // 2
        grad_x = np.zeros(shape, dtype=grad_output.dtype)
        grad_x[:, :, ::s, ::s] = grad_output[:, before:before + self.in_channels]
        return grad_x

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"
