"""Layers, activations and losses with ``torch.nn``'s names, layouts and semantics."""
from . import init, utils
from .grad_mode import enable_grad
from .module import Module, Parameter
from .container import Identity, ModuleDict, ModuleList, Residual, Sequential
from .blocks import BasicBlock, PadShortcut
from .linear import Linear
from .activation import (ELU, GELU, Hardswish, LeakyReLU, LogSoftmax, Mish, PReLU, ReLU, ReLU6, Sigmoid, SiLU,
                         Softmax, Softplus, Tanh)
from .dropout import Dropout, Dropout2d
from .flatten import Flatten, Unflatten
from .loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, KLDivLoss, L1Loss, LossNotFiniteError, MSELoss,
                   NLLLoss, SmoothL1Loss)
from .conv import Conv2d
from .conv_transpose import ConvTranspose2d
from .pooling import AvgPool2d, MaxPool2d
from .adaptive import AdaptiveAvgPool2d, AdaptiveMaxPool2d
from .batchnorm import BatchNorm1d, BatchNorm2d
from .normalization import GroupNorm, LayerNorm
from .padding import ZeroPad2d
from .upsampling import Upsample
