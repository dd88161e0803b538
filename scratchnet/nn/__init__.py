"""Layers, activations and losses with ``torch.nn``'s names, layouts and semantics."""
from . import init
from .module import Module, Parameter, Sequential
from .linear import Linear
