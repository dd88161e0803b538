"""One seeded random generator for the whole library, so runs repeat bit for bit.

``scratchnet.manual_seed(n)`` resets it; every layer or initialiser that draws random
numbers takes an optional ``generator`` (a ``numpy.random.Generator``) and otherwise
uses this one.
"""
from __future__ import annotations

import numpy as np

_generator = np.random.default_rng(0)


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the default generator (as ``torch.manual_seed``) and return it."""
    global _generator
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"manual_seed takes a non-negative integer, got {seed!r}")
    _generator = np.random.default_rng(int(seed))
    return _generator


def default_generator() -> np.random.Generator:
    return _generator


def resolve(generator: np.random.Generator | None) -> np.random.Generator:
    """The generator to draw from: the one given, else the default."""
    return _generator if generator is None else generator
