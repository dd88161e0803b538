"""scratchnet: neural networks from scratch on NumPy, with PyTorch's names and layouts."""
from .random import manual_seed

__version__ = "0.1.0"

from .train import TrainConfig, fit  # noqa: E402  (after __version__, which model files record)

__all__ = ["manual_seed", "__version__", "TrainConfig", "fit"]
