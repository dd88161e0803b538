"""scratchnet: neural networks from scratch on NumPy, with PyTorch's names and layouts."""
from .random import manual_seed

__version__ = "0.1.0"

__all__ = ["manual_seed", "__version__"]
