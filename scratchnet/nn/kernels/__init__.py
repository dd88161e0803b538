"""Compiled kernels (Numba) for the layers where NumPy cannot keep up; NumPy stays the reference.

Every layer's NumPy code is the reference implementation, the one to read and step through.
Where a profile showed NumPy losing, a layer hands its work to a kernel here, written as
plain Python loops over the few dimensions that matter and compiled by Numba (LLVM) on first
use; compiled code is cached on disk (``cache=True``), so later runs start quickly. Which
configurations each kernel takes is decided by the kernel module (``conv.supports``);
everything else runs the reference path. A test runs every kernel against the reference.

Switching paths:

    SCRATCHNET_KERNELS=numpy scratchnet train ...     # environment: the whole engine on NumPy
    scratchnet.nn.kernels.use("numpy")                # API, at any time; use("numba") switches back

Threads: a kernel runs on as many threads as NumPy's BLAS may use at that moment (the one
setting ``threadpoolctl.threadpool_limits`` / ``scratchnet train --threads`` controls), so Numba
and OpenBLAS never run more threads than that between them: they take turns, layer by layer.

Processes and threads: the kernels run on Numba's own "workqueue" thread pool (unless
NUMBA_THREADING_LAYER chooses another), which survives ``fork()`` (GNU OpenMP's does not: a
forked child that runs a kernel would be killed; the grid search forks its workers), and
one lock lets one kernel run at a time, so threads that share a model (the prediction
server) take turns instead of crashing the pool, which does not take concurrent callers.

A machine where Numba cannot compile (an unsupported CPU or platform, a broken install)
gets one warning and the NumPy path for the rest of the process, never a crash.
"""
from __future__ import annotations

import os
import threading
import warnings

import numpy as np

BACKENDS = ("numba", "numpy")
_ENVIRONMENT = "SCRATCHNET_KERNELS"
def _checked(name: str, source: str) -> str:
    if name not in BACKENDS:
        raise ValueError(f"{source}={name!r} is not a kernel backend; use one of {', '.join(BACKENDS)} "
                         "('numpy' runs the reference implementation)")
    return name


_backend = _checked(os.environ.get(_ENVIRONMENT, "numba").strip().lower() or "numba", _ENVIRONMENT)


def use(name: str) -> None:
    """Run the engine on ``"numba"`` (compiled kernels where they help) or ``"numpy"`` (the reference)."""
    global _backend
    _backend = _checked(name, "kernels.use(name)")


def backend() -> str:
    """The path the engine runs on now: "numba" or "numpy"."""
    return _backend


def enabled() -> bool:
    return _backend == "numba"


def _loops(module: str):
    """The compiled-loop module ``module`` (imports Numba on first use, choosing its thread pool)."""
    import importlib

    import numba

    if "NUMBA_THREADING_LAYER" not in os.environ:
        numba.config.THREADING_LAYER = "workqueue"  # fork-safe; takes effect before the first parallel kernel
    return importlib.import_module(f"{__name__}.{module}")


_lock = threading.Lock()  # one kernel at a time: the workqueue pool takes no concurrent callers


def _new_lock() -> None:
    global _lock
    _lock = threading.Lock()  # a forked child must not inherit a lock some other thread held


os.register_at_fork(after_in_child=_new_lock)


def _compile_errors() -> tuple:
    """Errors that mean "this machine cannot compile or load the kernels", not a bug in a caller."""
    try:
        from numba.core.errors import NumbaError
    except ImportError:
        return ImportError, OSError
    return ImportError, OSError, NumbaError


def thread_count() -> int:
    """How many threads a kernel may use now: NumPy's BLAS limit (threadpoolctl), at most Numba's pool."""
    import numba

    from ..parallel import blas_threads

    return max(1, min(blas_threads(), numba.config.NUMBA_NUM_THREADS))


class Unavailable(Exception):
    """Numba cannot compile or load the kernels on this machine; the process now runs on NumPy."""


def run(module: str, kernel: str, *args):
    """``module.kernel(*args)`` on ``thread_count()`` threads.

    If Numba cannot compile or load it: warn once, switch the process to the NumPy path and
    raise Unavailable (``ready`` turns that into False, and the layer runs its reference code).
    """
    try:
        loops = _loops(module)
        import numba

        with _lock:
            numba.set_num_threads(thread_count())
            return getattr(loops, kernel)(*args)
    except Exception as err:
        if not isinstance(err, _compile_errors()):
            raise
        use("numpy")
        first_line = (str(err).strip().splitlines() or [""])[0]
        warnings.warn(f"scratchnet: Numba could not compile its kernels ({type(err).__name__}: {first_line}); "
                      "running on the NumPy reference path", RuntimeWarning, stacklevel=4)
        raise Unavailable(first_line) from err


_READY: set = set()  # (module, dtype) pairs whose kernels have compiled or loaded from the disk cache


def ready(module: str, dtype, warm_up) -> bool:
    """Compile ``module``'s kernels for ``dtype`` once, by ``warm_up(dtype)`` running each on tiny
    arrays; False if Numba cannot. Layers call it before their first kernel, so a machine that
    cannot compile finds out there, never halfway through a training step."""
    key = (module, np.dtype(dtype))
    if key not in _READY:
        try:
            warm_up(np.dtype(dtype))
        except Unavailable:
            return False
        _READY.add(key)
    return True


def prepare(dtype=np.float32) -> bool:
    """Compile (or load from the disk cache) every layer's kernels for ``dtype`` now, e.g. before
    timing something; False on the NumPy path or where Numba cannot compile."""
    from . import batchnorm, conv, optimizer

    return enabled() and all(ready(kind._LOOPS, dtype, kind._warm_up) for kind in (conv, batchnorm, optimizer))
