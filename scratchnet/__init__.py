"""scratchnet: neural networks from scratch on NumPy, with PyTorch's names and layouts.

``scratchnet.nn`` and ``scratchnet.optim`` are the engine (NumPy only);
``scratchnet.fit(TrainConfig(...))`` runs the whole training workflow.
"""
from . import runtime

runtime.configure_blas()  # before NumPy loads OpenBLAS: see runtime.py
runtime.keep_freed_memory()

from .random import manual_seed  # noqa: E402 (after the BLAS settings)
from .version import __version__  # noqa: E402

__all__ = ["manual_seed", "__version__", "TrainConfig", "fit"]


def __getattr__(name: str):
    # The workflow is imported on first use, so ``import scratchnet.nn`` loads the engine alone.
    if name in ("TrainConfig", "fit"):
        from . import train

        return getattr(train, name)
    raise AttributeError(f"module 'scratchnet' has no attribute {name!r}")
