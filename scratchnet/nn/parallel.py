"""Data parallelism for the engine: independent blocks of samples on several threads.

NumPy is the engine's only requirement. When threadpoolctl (a dependency of the
scratchnet package, not of the engine) is importable, blocks run on as many Python
threads as BLAS may use, each with single-threaded BLAS; without it they run one after
another, with the same results up to BLAS rounding.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numpy as np

try:
    from threadpoolctl import ThreadpoolController
except ImportError:  # the engine runs on NumPy alone, serially
    ThreadpoolController = None

_BLOCK_BYTES = 1024 * 1024  # target size of one block's working set (fits in L2/L3 cache)
# Threads only pay off from this many blocks per thread: below it (LeNet-5's layers at batch 64: 1-4
# blocks) the threads' hand-offs and their contention for the GIL in NumPy's small calls cost more
# than they save (measured: LeNet-5 at batch 64 trained 7,187 samples/s on 2 threads with every
# block threaded, 9,617 with its few-block layers run serially, 9,688 on 1 thread).
_MIN_BLOCKS_PER_THREAD = 4


@lru_cache(maxsize=None)
def _blas():
    """NumPy's BLAS libraries (found once, after NumPy has loaded them); None without threadpoolctl."""
    if ThreadpoolController is None:
        return None
    return ThreadpoolController().select(user_api="blas")


@lru_cache(maxsize=None)
def _executor(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scratchnet-conv")


def blas_threads() -> int:
    """How many threads NumPy's BLAS may use now (1 without threadpoolctl): the engine's one thread setting."""
    controller = _blas()
    libs = controller.lib_controllers if controller is not None else []
    return min(lib.num_threads for lib in libs) if libs else 1


def run_blocks(task, blocks: list) -> list:
    """[task(b) for b in blocks], spread over as many Python threads as BLAS may use.

    The engine's parallelism (Conv2d, BatchNorm, MaxPool2d): with n BLAS threads (set e.g.
    by ``threadpoolctl.threadpool_limits``) and at least _MIN_BLOCKS_PER_THREAD blocks per
    thread (fewer run one after another), n blocks of samples run at once, each with
    single-threaded BLAS. NumPy releases the GIL in copies, ufuncs and GEMMs, so the
    elementwise work runs in parallel too, and a few large independent tasks tolerate a
    busy machine far better than many small multi-threaded GEMMs. Results come back in
    block order, so sums of per-block results do not depend on the thread count.
    """
    workers = min(blas_threads(), len(blocks) // _MIN_BLOCKS_PER_THREAD)
    if workers <= 1:
        return [task(block) for block in blocks]
    with _blas().limit(limits=1):
        return list(_executor(workers).map(task, blocks))


def sample_blocks(x: np.ndarray, bytes_per_sample: int | None = None) -> list:
    """Slices of x's first axis (samples) of about _BLOCK_BYTES each (one sample's bytes of x by default)."""
    n = x.shape[0]
    per_sample = max(1, x.nbytes // max(n, 1) if bytes_per_sample is None else bytes_per_sample)
    step = max(1, _BLOCK_BYTES // per_sample)
    return [slice(start, min(start + step, n)) for start in range(0, n, step)]
