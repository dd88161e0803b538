"""A CIFAR ResNet-20 as a user writes it: a residual block defined in the benchmark itself.

He et al.'s CIFAR ResNet (2016, section 4.2): a 3×3 convolution to 16 channels, three stages
of three basic blocks at 16, 32 and 64 channels (the first block of the second and third
stage halves the resolution with stride 2), global average pooling and a Linear(64, 10);
20 weighted layers. Where a block changes shape, its shortcut is a 1×1 convolution with
stride 2 and BatchNorm (the "option B" projection).

The same block is written for both frameworks from their ``nn`` module, with the same
attribute names, so scratchnet's ``state_dict`` loads into PyTorch's. scratchnet has no
autograd, so its block also spells out ``backward``: the gradient of a sum flows into both
branches, and the input gradient is the sum of the two branches' input gradients.
"""
from __future__ import annotations


def basic_block(nn, in_channels: int, out_channels: int, stride: int):
    """One basic block of ``nn`` (``scratchnet.nn`` or ``torch.nn``):
    y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))."""
    return _block_class(nn)(in_channels, out_channels, stride)


_CLASSES = {}


def _block_class(nn):
    if nn.__name__ not in _CLASSES:
        _CLASSES[nn.__name__] = _define_block(nn)
    return _CLASSES[nn.__name__]


def _define_block(nn):
    class BasicBlock(nn.Module):
        def __init__(self, in_channels: int, out_channels: int, stride: int):
            super().__init__()
            self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(out_channels)
            self.relu1 = nn.ReLU()
            self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(out_channels)
            self.relu2 = nn.ReLU()
            self.shortcut = nn.Sequential()
            if stride != 1 or in_channels != out_channels:
                self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                              nn.BatchNorm2d(out_channels))

        def forward(self, x):
            out = self.relu1(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu2(out + (self.shortcut(x) if len(self.shortcut) else x))

        def backward(self, grad_output):  # scratchnet only: PyTorch's autograd never calls it
            g = self.relu2.backward(grad_output)
            g_main = self.conv1.backward(self.bn1.backward(self.relu1.backward(
                self.conv2.backward(self.bn2.backward(g)))))
            return g_main + (self.shortcut.backward(g) if len(self.shortcut) else g)

    return BasicBlock
