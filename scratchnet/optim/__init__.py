"""Optimizers and learning-rate schedulers with ``torch.optim``'s names, arguments and update rules."""
from . import lr_scheduler
from .optimizer import Optimizer
from .sgd import SGD
from .adam import Adam, AdamW
from .adagrad import Adagrad
from .rmsprop import RMSprop
from .lr_scheduler import (CosineAnnealingLR, LinearLR, LRScheduler, OneCycleLR, ReduceLROnPlateau, SequentialLR,
                           StepLR)

__all__ = [
    "Optimizer", "SGD", "Adam", "AdamW", "Adagrad", "RMSprop",
    "lr_scheduler", "LRScheduler", "StepLR", "CosineAnnealingLR", "LinearLR", "SequentialLR", "OneCycleLR",
    "ReduceLROnPlateau",
]
