"""Layers, activations and losses with ``torch.nn``'s names, layouts and semantics."""
from . import init
from .linear import Linear
from .module import Module, Parameter, Sequential

__all__ = ["init", "Module", "Parameter", "Sequential", "Linear"]
