"""scratchnet.runtime: freed buffers are reused, and OpenBLAS's spin is set before NumPy loads it."""
import pytest
from conftest import run_python

from scratchnet import runtime

# A child process fills a 64 MB array, frees it, allocates and fills one of the same size
# again, and prints how many page faults the second one cost.
REFAULTS = (
    "import resource, scratchnet, numpy as np\n"
    "a = np.ones(16 << 20, np.float32); del a\n"
    "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
    "b = np.ones(16 << 20, np.float32)\n"
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n"
)


@pytest.mark.skipif(not runtime.keep_freed_memory(), reason="glibc's mallopt is needed (Linux with glibc)")
def test_a_freed_buffer_is_reused_without_page_faults():
    reused = int(run_python(REFAULTS, SCRATCHNET_KEEP_FREED_MEMORY="1"))
    fresh = int(run_python(REFAULTS, SCRATCHNET_KEEP_FREED_MEMORY="0"))
    assert reused < 10 < fresh, (reused, fresh)


def test_keeping_freed_memory_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("SCRATCHNET_KEEP_FREED_MEMORY", "0")
    assert runtime.keep_freed_memory() is False


PRINT_TIMEOUT = "import os, sys; {imports}; print(os.environ.get('OPENBLAS_THREAD_TIMEOUT'))"


def test_blas_spin_is_set_when_scratchnet_comes_before_numpy():
    printed = run_python(PRINT_TIMEOUT.format(imports="import scratchnet, numpy"))
    assert printed == runtime.BLAS_ENVIRONMENT["OPENBLAS_THREAD_TIMEOUT"]


def test_blas_spin_is_left_alone_after_numpy_or_when_set():
    late = PRINT_TIMEOUT.format(imports="import numpy, scratchnet")
    assert run_python(late) == "None"  # too late to matter: not pretended
    assert run_python(PRINT_TIMEOUT.format(imports="import scratchnet"), OPENBLAS_THREAD_TIMEOUT="12") == "12"


def test_blas_environment_omits_what_the_user_set(monkeypatch):
    monkeypatch.setenv("OPENBLAS_THREAD_TIMEOUT", "20")
    assert runtime.blas_environment() == {}
    monkeypatch.delenv("OPENBLAS_THREAD_TIMEOUT")
    assert runtime.blas_environment() == runtime.BLAS_ENVIRONMENT
