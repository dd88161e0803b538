"""An exponential moving average (EMA) of a model's weights, updated after every optimiser step.

After update t (t = 1, 2, ...), for every parameter and floating-point buffer w of the model:

    d_t = min(decay, (1 + t) / (10 + t))
    ema ← d_t · ema + (1 − d_t) · w

The warm-up of d_t (TensorFlow's ``ExponentialMovingAverage`` with ``num_updates``) keeps the
average from dwelling on the random initial weights in short runs. Integer buffers (BatchNorm's
``num_batches_tracked``) are copied. The average is a ``state_dict``: ``applied(model)`` puts it
into the model for evaluation and puts the trained weights back afterwards.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import numpy as np

from .. import nn


class WeightAverage:
    """The EMA of ``model``'s state_dict with the given ``decay`` (e.g. 0.999); ``updates`` counts steps."""

    def __init__(self, model: nn.Module, decay: float, state: dict[str, np.ndarray] | None = None,
                 updates: int = 0):
        if not 0 < decay < 1:
            raise ValueError(f"ema_decay must be in (0, 1), got {decay}")
        self.decay, self.updates = decay, updates
        self.state = model.state_dict() if state is None else {k: np.array(v, copy=True) for k, v in state.items()}

    def update(self, model: nn.Module) -> None:
        """Move the average towards ``model``'s current weights (one optimiser step's worth)."""
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for key, value in _live_arrays(model):
            average = self.state[key]
            if np.issubdtype(average.dtype, np.floating):
                average *= d
                average += (1 - d) * value
            else:
                average[...] = value

    @contextlib.contextmanager
    def applied(self, model: nn.Module) -> Iterator[None]:
        """Within the block ``model`` holds the averaged weights; its own come back afterwards."""
        trained = model.state_dict()
        model.load_state_dict(self.state)
        try:
            yield
        finally:
            model.load_state_dict(trained)


def _live_arrays(module: nn.Module) -> Iterator[tuple[str, np.ndarray]]:
    """(state_dict key, the module's own array) for every parameter and buffer, without copying."""
    for key, p in module.named_parameters(remove_duplicate=False):  # every key, tied weights too
        yield key, p.data
    yield from module.named_buffers()
