"""Process settings that make the engine fast, applied when scratchnet is imported.

Both are documented knobs of the libraries underneath, set once for the process; neither
changes a result.

1. OpenBLAS's idle threads. After a multi-threaded GEMM (a Linear layer), OpenBLAS keeps
   its helper threads spinning for 2**28 cycles (about 0.1 s) waiting for the next one.
   In a CNN that is the whole convolutional part of the step, where the engine's own block
   threads (``nn/parallel.py``) need those cores: measured on this project's 2-core
   machine, CNN3 at batch 128 on 2 threads ran at 970 samples/s with the default and
   1,400 with ``OPENBLAS_THREAD_TIMEOUT=4`` (the shortest spin), and the batch-64 MLP was
   no slower. OpenBLAS reads the variable once, when NumPy loads it, so it is set only if
   scratchnet is imported before NumPy (the ``scratchnet`` command always is); a
   program that imports NumPy first can export it itself. A value already in the
   environment is kept.

2. glibc's malloc. Training allocates the same large arrays every step (a batch of 500
   CNN3 activations is 43 MB). malloc serves every block above its mmap threshold
   (dynamic, at most 32 MiB) with a fresh ``mmap`` and unmaps it on free, so the next
   step's array starts as untouched pages that the kernel faults in and zeroes on first
   write: measured here, ``np.maximum(x, 0)`` over 43 MB took 23 ms into a fresh array
   and 11 ms into a reused one, 10-14 % of a CNN3 step. Raising the mmap and trim
   thresholds lets malloc reuse freed blocks (what PyTorch users get from tcmalloc or
   jemalloc). Only glibc has ``mallopt``; elsewhere (macOS, musl) this does nothing.

``SCRATCHNET_KEEP_FREED_MEMORY=0`` leaves malloc's defaults alone.
"""
from __future__ import annotations

import ctypes
import os
import platform
import sys

BLAS_ENVIRONMENT = {"OPENBLAS_THREAD_TIMEOUT": "4"}  # spin 2**4 cycles, then sleep
_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 1 << 30  # blocks up to 1 GiB come from the heap (and are reused)
_TRIM_THRESHOLD = (1 << 31) - 1  # never shrink the heap (the largest value mallopt takes)


def blas_environment() -> dict[str, str]:
    """The BLAS variables scratchnet would set that the environment does not already set."""
    return {key: value for key, value in BLAS_ENVIRONMENT.items() if key not in os.environ}


def configure_blas() -> bool:
    """Export BLAS_ENVIRONMENT (keeping values already set) if NumPy is not loaded yet; True if it was."""
    if "numpy" in sys.modules:
        return False
    os.environ.update(blas_environment())
    return True


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds; True when they were set."""
    if os.environ.get("SCRATCHNET_KEEP_FREED_MEMORY", "1") == "0" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD) and mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
