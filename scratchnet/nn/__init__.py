"""Layers, activations and losses with ``torch.nn``'s names, layouts and semantics."""
from . import init, utils
from .module import Module, Parameter
from .container import Identity, ModuleDict, ModuleList, Residual, Sequential
from .blocks import BasicBlock, PadShortcut
from .linear import Linear
from .activation import ELU, GELU, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from .dropout import Dropout
from .flatten import Flatten
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, LossNotFiniteError
from .conv import Conv2d
from .pooling import AvgPool2d, MaxPool2d
from .adaptive import AdaptiveAvgPool2d, AdaptiveMaxPool2d
from .batchnorm import BatchNorm1d, BatchNorm2d
