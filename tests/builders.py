"""Small files and servers that many tests need, written one way: IDX datasets, CIFAR-10
batches (a folder or the published tarball), tiny saved models and an in-process `serve`.

Import them in a test with ``from builders import ...`` (conftest.py puts tests/ on the path).
IDX files are written by the package's own ``scratchnet.data.idx.write_idx``.
"""
from __future__ import annotations

import contextlib
import http.client
import io
import os
import subprocess
import sys
import tarfile
import textwrap
import threading
from pathlib import Path

import numpy as np

from scratchnet import nn
from scratchnet.data import Preprocess
from scratchnet.data.cifar import FOLDER as CIFAR_FOLDER
from scratchnet.data.cifar import TEST_FILE as CIFAR_TEST_FILE
from scratchnet.data.cifar import TRAIN_FILES as CIFAR_TRAIN_FILES
from scratchnet.data.idx import write_idx
from scratchnet.train.modelfile import save_model

DIGITS = [str(d) for d in range(10)]
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

__all__ = ["CIFAR_CLASSES", "DIGITS", "IDX_NAMES", "bounded_python", "cifar_batches", "cifar_bytes", "digit_png", "request", "run_bounded",
           "serving", "small_tmpfs",
           "write_cifar_archive", "write_cifar_folder", "write_idx", "write_idx_dataset", "write_linear_model"]


# ---- IDX (MNIST family) ---------------------------------------------------------------------

def write_idx_dataset(folder: Path, n_train: int = 12, n_test: int = 5, size: tuple[int, int] = (28, 28),
                      gz: bool = True, seed: int = 0) -> tuple[np.ndarray, ...]:
    """A small MNIST-shaped dataset of random bytes written as the four IDX files in ``folder``;
    returns (train images, train labels, test images, test labels) as uint8 arrays."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = (rng.integers(0, 256, (n_train, *size), dtype=np.uint8), rng.integers(0, 10, n_train, dtype=np.uint8),
              rng.integers(0, 256, (n_test, *size), dtype=np.uint8), rng.integers(0, 10, n_test, dtype=np.uint8))
    for name, array in zip(IDX_NAMES, arrays):
        write_idx(folder / (name + (".gz" if gz else "")), array)
    return arrays


# ---- CIFAR-10 binary version ----------------------------------------------------------------

def cifar_batches(n_per_batch: int = 4, n_test: int | None = None,
                  seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Batch file name -> (images (N, 3, 32, 32) uint8, labels (N,) uint8) for the five training
    batches and the test batch (``n_test`` images, ``n_per_batch`` if None). The images are
    learnable: each pixel is 16 * label plus noise in [0, 64)."""
    rng = np.random.default_rng(seed)
    batches = {}
    for name in (*CIFAR_TRAIN_FILES, CIFAR_TEST_FILE):
        n = n_per_batch if name != CIFAR_TEST_FILE or n_test is None else n_test
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        noise = rng.integers(0, 64, (n, 3, 32, 32), dtype=np.uint8)
        batches[name] = (noise + labels[:, None, None, None] * np.uint8(16), labels)
    return batches


def cifar_bytes(images: np.ndarray, labels: np.ndarray) -> bytes:
    """One batch file's bytes: 3073-byte records, a label byte then the R, G, B planes."""
    return np.concatenate([labels[:, None], images.reshape(len(labels), -1)], axis=1).astype(np.uint8).tobytes()


def write_cifar_folder(folder: Path, n_per_batch: int = 4, n_test: int | None = None,
                       seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The extracted layout ``folder/cifar-10-batches-bin/*.bin``; returns ``cifar_batches``."""
    batches = cifar_batches(n_per_batch, n_test, seed)
    (folder / CIFAR_FOLDER).mkdir(parents=True, exist_ok=True)
    for name, (images, labels) in batches.items():
        (folder / CIFAR_FOLDER / name).write_bytes(cifar_bytes(images, labels))
    return batches


def write_cifar_archive(path: Path, n_per_batch: int = 4, n_test: int | None = None, seed: int = 0,
                        drop: tuple[str, ...] = (), cut_record: str | None = None
                        ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The published tarball's layout (cifar-10-batches-bin/*.bin and batches.meta.txt) at ``path``,
    leaving out the files named in ``drop`` and cutting 10 bytes off ``cut_record``; returns the
    batches written (``cifar_batches``, less those dropped)."""
    batches = {name: batch for name, batch in cifar_batches(n_per_batch, n_test, seed).items() if name not in drop}
    files = {name: cifar_bytes(*batch) for name, batch in batches.items()}
    if cut_record is not None:
        files[cut_record] = files[cut_record][:-10]
    if "batches.meta.txt" not in drop:
        files["batches.meta.txt"] = "\n".join(CIFAR_CLASSES).encode()
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in files.items():
            member = tarfile.TarInfo(f"{CIFAR_FOLDER}/{name}")
            member.size = len(payload)
            tar.addfile(member, io.BytesIO(payload))
    return batches


# ---- tiny saved models ----------------------------------------------------------------------

def write_linear_model(path: Path, input_shape: tuple[int, int, int] = (1, 28, 28), classes: list[str] = DIGITS,
                       dataset: str = "mnist", ink_class: int | None = 7) -> Path:
    """A Flatten -> Linear model file at ``path`` whose class ``ink_class`` wins for any image
    with ink (its logit is 0.01 times the sum of the pixels, every other logit is 0), or with
    Linear's default random initialisation when ``ink_class`` is None."""
    features = int(np.prod(input_shape))
    spec = {"layers": [{"type": "Flatten"},
                       {"type": "Linear", "in_features": features, "out_features": len(classes)}]}
    model = nn.Sequential(nn.Flatten(), nn.Linear(features, len(classes)))
    if ink_class is not None:
        model[1].weight.data[:] = 0
        model[1].weight.data[ink_class] = 0.01
        model[1].bias.data[:] = 0
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_model(path, model, spec, Preprocess("scale"), list(classes), input_shape, dataset)
    return Path(path)


# ---- the drawing page's server --------------------------------------------------------------

@contextlib.contextmanager
def serving(model, name: str = "tiny", **options):
    """A DigitServer on an ephemeral port of 127.0.0.1, answering from a background thread."""
    from scratchnet.serve import DigitServer

    server = DigitServer(("127.0.0.1", 0), model, model_name=name, log_requests=False, **options)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def digit_png(side: int = 280) -> bytes:
    """PNG bytes of a white '7' drawn on black, ``side`` pixels square (the drawing page's 280 by default)."""
    from PIL import Image, ImageDraw

    scale = side / 280
    image = Image.new("L", (side, side), 0)
    points = [(round(x * scale), round(y * scale)) for x, y in ((80, 60), (200, 60), (120, 230))]
    ImageDraw.Draw(image).line(points, fill=255, width=max(2, round(18 * scale)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def request(server, method: str, path: str, body=None, headers: dict | None = None):
    """(status, headers, body bytes) of one request on a fresh connection."""
    connection = http.client.HTTPConnection(*server.server_address[:2], timeout=10)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    result = response.status, dict(response.getheaders()), response.read()
    connection.close()
    return result


# ---- memory-bounded subprocesses ------------------------------------------------------------

_BOUNDED = """
import re, resource, sys
import numpy, scratchnet.cli  # imported before the cap: the cap is for what the code allocates
size = int(re.search(r"VmSize:\\s+(\\d+)", open("/proc/self/status").read())[1]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (size + {budget}, size + {budget}))
"""


def bounded_python(code: str, budget_mb: int = 150) -> tuple[list[str], dict[str, str]]:
    """(argv, env) of a fresh Python running ``code`` whose address space may grow by at most
    ``budget_mb`` MB beyond what importing scratchnet takes (``resource.setrlimit(RLIMIT_AS)``),
    with one BLAS thread; for ``subprocess.Popen`` (arguments may be appended to argv)."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    return [sys.executable, "-c", _BOUNDED.format(budget=budget_mb << 20) + textwrap.dedent(code)], env


def run_bounded(code: str, budget_mb: int = 150, timeout: float = 60, args: tuple[str, ...] = ()):
    """Run ``code`` as ``bounded_python`` says, with a wall-clock ``timeout`` (subprocess.TimeoutExpired
    if it hangs). Returns the CompletedProcess (text stdout and stderr); ``args`` become ``sys.argv[1:]``."""
    argv, env = bounded_python(code, budget_mb)
    return subprocess.run([*argv, *args], env=env, capture_output=True, text=True, timeout=timeout)


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str = "256k"):
    """A tmpfs of ``size`` mounted at ``path`` (created) for disk-full tests, unmounted after the
    block; skips the test where mounting is not allowed (not root, or no mount rights)."""
    import pytest

    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("disk-full tests mount a small tmpfs, which needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); disk-full tests need mount rights")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)
