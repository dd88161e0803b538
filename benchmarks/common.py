"""Shared machinery of the benchmarks: workloads, isolated measurements, GEMM roofline, tables.

How a figure is measured
------------------------
Each framework (``scratchnet``, ``torch``, ``sklearn``) runs in its own *server* process
(``python benchmarks/common.py serve FRAMEWORK``) that imports only that framework (plus
NumPy and threadpoolctl) and then, for every measurement it is asked for, forks a fresh
child. The child limits the thread pools (``threadpoolctl.threadpool_limits(n)``, and
``torch.set_num_threads(n)`` for PyTorch), builds the model, warms up, times a fixed wall
time of steps and reports samples/s and its own peak RSS (``ru_maxrss``). Forking after the
import keeps the import cost out of each measurement while every measurement still has
its own address space, so the peak RSS of one workload is not inflated by another.

Both frameworks get the same architecture (layer specs below, built with the same
``torch.nn`` names), the same initial weights (scratchnet writes its ``state_dict`` to a
``.npz`` that PyTorch loads), the same batches and the same thread count. Rounds alternate
scratchnet and PyTorch so that load from other processes hits both alike; the best
round of each is reported. The time-to-accuracy runs alternate too, one epoch at a time:
each framework's run lives in a forked child that trains its next epoch when asked.
"""
from __future__ import annotations

import argparse
import functools
import json
import math
import multiprocessing
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

SEED = 0
REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO.parent / "shared" / "datasets"
# Folder under shared/datasets holding each dataset the workloads use.
DATASET_FOLDERS = {"mnist": "mnist-10k", "fashion-mnist": "fashion-mnist"}
FRAMEWORK_LABELS = {"scratchnet": "scratchnet", "torch": "PyTorch", "sklearn": "scikit-learn"}


# --------------------------------------------------------------------------------------
# Workloads
# --------------------------------------------------------------------------------------
# A layer is (torch.nn class name, *positional args): built the same way from
# scratchnet.nn and torch.nn, which share names and argument order.
MLP_LAYERS = (("Linear", 784, 256), ("ReLU",), ("Linear", 256, 128), ("ReLU",), ("Linear", 128, 10))
CNN3_512_LAYERS = (  # SEEDS.md 002, CNNk-n-p with k=3, n=512, p=0.1
    ("Conv2d", 1, 32, 3), ("BatchNorm2d", 32), ("ReLU",), ("MaxPool2d", 2),
    ("Conv2d", 32, 64, 3), ("BatchNorm2d", 64), ("ReLU",), ("MaxPool2d", 2),
    ("Flatten",), ("Dropout", 0.1), ("ReLU",),
    ("Linear", 1600, 512), ("ReLU",), ("Dropout", 0.1), ("Linear", 512, 10),
)
LENET5_LAYERS = (  # SEEDS.md 001 3(b), with the ReLUs of PyTorch's CIFAR tutorial net
    ("Conv2d", 3, 6, 5), ("ReLU",), ("MaxPool2d", 2),
    ("Conv2d", 6, 16, 5), ("ReLU",), ("MaxPool2d", 2), ("Flatten",),
    ("Linear", 400, 120), ("ReLU",), ("Linear", 120, 84), ("ReLU",), ("Linear", 84, 10),
)
DENSE10K_LAYERS = (  # SEEDS.md 001 3(a): at least 10,000 neurons in one hidden layer
    ("Conv2d", 3, 3, 5), ("ReLU",), ("Flatten",),
    ("Linear", 2352, 10000), ("ReLU",), ("Linear", 10000, 10),
)


@dataclass(frozen=True)
class Workload:
    """One benchmark: an architecture trained (or run for inference) at a fixed batch size.

    ``optimizer`` is a ``torch.optim`` / ``scratchnet.optim`` class name, or None for
    inference (eval mode, no gradients). ``dataset`` names the real images used, or None
    for random data of ``input_shape``. ``sklearn`` adds scikit-learn's MLPClassifier
    (which only fits MLPs) to the comparison. ``cosine_epochs`` (time to accuracy) anneals the
    learning rate from ``lr`` to 0 over that many epochs (``CosineAnnealingLR``, stepped per epoch).
    """

    name: str
    title: str
    layers: tuple
    input_shape: tuple
    batch: int
    optimizer: str | None
    lr: float = 0.0
    dataset: str | None = None
    sklearn: bool = False
    cosine_epochs: int | None = None

    @property
    def training(self) -> bool:
        return self.optimizer is not None

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Workload":
        data = dict(data, layers=tuple(tuple(layer) for layer in data["layers"]),
                    input_shape=tuple(data["input_shape"]))
        return cls(**data)


WORKLOADS = {w.name: w for w in (
    Workload("mlp-b64", "MLP 784-256-128-10, batch 64, SGD", MLP_LAYERS, (784,), 64, "SGD", 0.01,
             "mnist", sklearn=True),
    Workload("mlp-b1", "MLP 784-256-128-10, batch 1, SGD", MLP_LAYERS, (784,), 1, "SGD", 0.01, "mnist"),
    Workload("mlp-infer-b1000", "MLP 784-256-128-10, inference, batch 1000", MLP_LAYERS, (784,), 1000,
             None, 0.0, "mnist"),
    Workload("cnn3-512-0.1", "CNN3-512-0.1, batch 500, Adam", CNN3_512_LAYERS, (1, 28, 28), 500, "Adam", 1e-3,
             "fashion-mnist"),
    Workload("lenet5", "LeNet-5 3x32x32, batch 64, SGD", LENET5_LAYERS, (3, 32, 32), 64, "SGD", 0.01),
    Workload("dense10k", "Dense 10,000-unit CIFAR net, batch 64, Adagrad", DENSE10K_LAYERS, (3, 32, 32), 64,
             "Adagrad", 0.01),
)}

# Time to accuracy: the CNN3-512-0.1 architecture on all of Fashion-MNIST, Adam with the learning
# rate annealed to 0 over the run's epochs (without it the recipe stops near 91 %), at batch 128
# or SEEDS 002's 500.
ACCURACY_EPOCHS, ACCURACY_BATCH = 15, 128


def accuracy_recipe(batch: int = ACCURACY_BATCH, epochs: int = ACCURACY_EPOCHS) -> Workload:
    return Workload(f"cnn3-512-0.1-b{batch}", f"CNN3-512-0.1, batch {batch}, Adam lr 1e-3, cosine over {epochs} "
                    "epochs", CNN3_512_LAYERS, (1, 28, 28), batch, "Adam", 1e-3, "fashion-mnist", cosine_epochs=epochs)


def build_model(nn, layers):
    """``nn.Sequential`` of ``layers`` from ``nn`` (the module ``scratchnet.nn`` or ``torch.nn``)."""
    return nn.Sequential(*(getattr(nn, name)(*args) for name, *args in layers))


def forward_gemm_flops(layers, input_shape) -> int:
    """Multiply-add FLOPs (2·M·N·K per GEMM) of one sample's forward pass through the
    Linear and Conv2d layers; other layers are counted as free.

    A Linear(in, out) is one (1×in)·(in×out) GEMM; a Conv2d(cin, cout, k) (stride 1, no
    padding, as in every workload here) is a (Ho·Wo × cin·k·k)·(cin·k·k × cout) GEMM.
    """
    shape, flops = tuple(input_shape), 0
    for name, *args in layers:
        if name == "Linear":
            flops += 2 * args[0] * args[1]
            shape = (args[1],)
        elif name == "Conv2d":
            cin, cout, k = args
            ho, wo = shape[1] - k + 1, shape[2] - k + 1
            flops += 2 * ho * wo * cin * k * k * cout
            shape = (cout, ho, wo)
        elif name == "MaxPool2d":
            shape = (shape[0], shape[1] // args[0], shape[2] // args[0])
        elif name == "Flatten":
            shape = (math.prod(shape),)
    return flops


def step_gemm_flops(workload: Workload) -> int:
    """GEMM FLOPs per sample of one step: 3 GEMMs per layer when training (forward, input
    gradient, weight gradient), 1 for inference."""
    return forward_gemm_flops(workload.layers, workload.input_shape) * (3 if workload.training else 1)


# --------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def load_real(dataset: str):
    """A ``scratchnet.data.Dataset`` read from shared/datasets (or scratchnet's usual places), never downloaded."""
    from scratchnet.data.dataset import load

    folder = SHARED_DATASETS / DATASET_FOLDERS[dataset]
    return load(dataset, root=folder if folder.is_dir() else None, download=False, progress=False)


def as_inputs(images: np.ndarray, input_shape: tuple) -> np.ndarray:
    """uint8 (N, C, H, W) images scaled to [0, 1] float32, flattened when the model takes vectors."""
    return (images.astype(np.float32) / 255).reshape((len(images), *input_shape))


def sample_pool(workload: Workload, size: int) -> tuple[np.ndarray, np.ndarray, str]:
    """``size`` inputs and labels for ``workload`` and where they came from.

    Real images when the workload names a dataset that can be read; otherwise (or if the
    dataset is missing) seeded random data of the right shape.
    """
    if workload.dataset is not None:
        try:
            data = load_real(workload.dataset)
            return as_inputs(data.x_train[:size], workload.input_shape), data.y_train[:size], data.name
        except (ImportError, OSError, RuntimeError, ValueError) as err:
            print(f"benchmarks: {workload.dataset} unavailable ({err}); using random data", file=sys.stderr)
    rng = np.random.default_rng(SEED)
    x = rng.random((size, *workload.input_shape), dtype=np.float32)
    return x, rng.integers(0, 10, size).astype(np.int64), "random"


def batches(x, y, batch: int) -> list:
    """Consecutive full batches of (x, y): views, so building them copies nothing."""
    return [(x[i:i + batch], y[i:i + batch]) for i in range(0, len(x) - batch + 1, batch)]


# --------------------------------------------------------------------------------------
# The frameworks, behind one small interface: train_step(x, y) and predict(x)
# --------------------------------------------------------------------------------------
class ScratchnetRunner:
    """A scratchnet model, loss and optimiser for one workload (its threads are limited by
    threadpoolctl in the caller)."""

    def __init__(self, workload: Workload, weights: Path, threads: int):
        import scratchnet
        from scratchnet import nn, optim

        scratchnet.manual_seed(SEED)
        self.model = build_model(nn, workload.layers)
        np.savez(weights, **self.model.state_dict())  # PyTorch starts from these weights
        self.loss_fn = nn.CrossEntropyLoss()
        self.optimizer = getattr(optim, workload.optimizer)(self.model.parameters(), lr=workload.lr) \
            if workload.training else None
        self.schedule = optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=workload.cosine_epochs) \
            if workload.cosine_epochs else None
        self.model.train(workload.training)

    @staticmethod
    def as_tensor(array: np.ndarray) -> np.ndarray:
        return array

    def train_step(self, x, y) -> None:
        logits = self.model(x)
        self.loss_fn(logits, y)
        self.model.backward(self.loss_fn.backward(), input_grad=False)  # as torch: images need no gradient
        self.optimizer.step()
        self.optimizer.zero_grad()

    def predict(self, x) -> np.ndarray:
        training = self.model.training
        self.model.eval()
        logits = self.model(x)
        self.model.train(training)
        return logits


class TorchRunner:
    """The same workload in PyTorch, from scratchnet's initial weights when they exist."""

    def __init__(self, workload: Workload, weights: Path, threads: int):
        import torch

        torch.set_num_threads(threads)
        torch.manual_seed(SEED)
        self.torch = torch
        self.model = build_model(torch.nn, workload.layers)
        if weights.exists():
            self._load(weights)
        self.loss_fn = torch.nn.CrossEntropyLoss()
        self.optimizer = getattr(torch.optim, workload.optimizer)(self.model.parameters(), lr=workload.lr) \
            if workload.training else None
        self.schedule = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=workload.cosine_epochs) \
            if workload.cosine_epochs else None
        self.model.train(workload.training)

    def _load(self, weights: Path) -> None:
        with np.load(weights, allow_pickle=False) as arrays:
            state = {key: self.torch.from_numpy(arrays[key]) for key in arrays.files}
        missing, unexpected = self.model.load_state_dict(state, strict=False)
        # scratchnet's BatchNorm may keep no num_batches_tracked counter; nothing else may differ.
        missing = [key for key in missing if not key.endswith("num_batches_tracked")]
        if missing or unexpected:
            raise RuntimeError(f"scratchnet and PyTorch state_dicts differ: missing {missing}, "
                               f"unexpected {unexpected}")

    def as_tensor(self, array: np.ndarray):
        return self.torch.from_numpy(array)

    def train_step(self, x, y) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self.loss_fn(self.model(x), y).backward()
        self.optimizer.step()

    def predict(self, x):
        training = self.model.training
        self.model.eval()
        with self.torch.inference_mode():
            logits = self.model(x)
        self.model.train(training)
        return logits.numpy()


RUNNERS = {"scratchnet": ScratchnetRunner, "torch": TorchRunner}


def peak_rss_mib() -> float:
    """This process's peak resident set size in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_steps(step, seconds: float, warmup_seconds: float, min_steps: int = 2) -> tuple[int, float]:
    """Run ``step(i)`` for ``warmup_seconds`` (at least once), then time at least ``min_steps``
    steps and at least ``seconds``; return (timed steps, elapsed seconds)."""
    start, i = time.perf_counter(), 0
    while i == 0 or time.perf_counter() - start < warmup_seconds:
        step(i)
        i += 1
    start, steps = time.perf_counter(), 0
    while steps < min_steps or time.perf_counter() - start < seconds:
        step(i + steps)
        steps += 1
    return steps, time.perf_counter() - start


def measure_throughput(framework: str, request: dict) -> dict:
    """Samples/s of one framework on one workload (run in a forked child)."""
    workload = Workload.from_json(request["workload"])
    if framework == "sklearn":
        return measure_sklearn(workload, request)
    runner = RUNNERS[framework](workload, Path(request["weights"]), request["threads"])
    x, y = load_arrays(request["data"])
    pool = batches(runner.as_tensor(x), runner.as_tensor(y), workload.batch)
    if workload.training:
        def step(i):
            runner.train_step(*pool[i % len(pool)])
    else:
        def step(i):
            runner.predict(pool[i % len(pool)][0])
    steps, elapsed = time_steps(step, request["seconds"], request["warmup_seconds"])
    samples_per_s = steps * workload.batch / elapsed
    return {"samples_per_s": samples_per_s, "steps": steps, "seconds": elapsed, "peak_rss_mib": peak_rss_mib(),
            **gemm_fraction(samples_per_s, workload, request)}


def sklearn_classifier(workload: Workload, epochs: int):
    """scikit-learn's MLPClassifier with the workload's hidden sizes, batch and plain SGD, no
    L2 penalty, no early stopping: exactly ``epochs`` passes over the data."""
    from sklearn.neural_network import MLPClassifier

    hidden = tuple(args[1] for name, *args in workload.layers if name == "Linear")[:-1]
    return MLPClassifier(hidden_layer_sizes=hidden, activation="relu", solver="sgd", alpha=0.0,
                         batch_size=workload.batch, learning_rate_init=workload.lr, momentum=0.0,
                         max_iter=epochs, tol=0.0, n_iter_no_change=epochs + 1, shuffle=True,
                         random_state=SEED)


def measure_sklearn(workload: Workload, request: dict) -> dict:
    """MLPClassifier samples/s = n_samples · epochs / fit time; one epoch first to warm up and
    to choose how many epochs fill ``seconds``."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    x, y = load_arrays(request["data"])
    warnings.simplefilter("ignore", ConvergenceWarning)
    start = time.perf_counter()
    sklearn_classifier(workload, 1).fit(x, y)
    epochs = max(1, round(request["seconds"] / (time.perf_counter() - start)))
    start = time.perf_counter()
    sklearn_classifier(workload, epochs).fit(x, y)
    elapsed = time.perf_counter() - start
    samples_per_s = len(x) * epochs / elapsed
    return {"samples_per_s": samples_per_s, "steps": epochs * math.ceil(len(x) / workload.batch),
            "seconds": elapsed, "peak_rss_mib": peak_rss_mib(), **gemm_fraction(samples_per_s, workload, request)}


def gemm_fraction(samples_per_s: float, workload: Workload, request: dict) -> dict:
    """This machine's sgemm GFLOP/s measured right after the workload, in the same process
    and conditions, and the fraction of it the workload's GEMM FLOPs reached."""
    gflops = sgemm_gflops(*((256, 0.02) if request["quick"] else (1024, 0.3)))
    return {"sgemm_gflops": gflops, "gemm_fraction": samples_per_s * step_gemm_flops(workload) / (gflops * 1e9)}


def accuracy_epochs(framework: str, request: dict):
    """Train ``request["workload"]`` on the training set one epoch per iteration, yielding after
    each the cumulative training seconds (evaluations excluded) and the test accuracy. Both
    frameworks see the same shuffled order (a seeded permutation)."""
    workload = Workload.from_json(request["workload"])
    runner = RUNNERS[framework](workload, Path(request["weights"]), request["threads"])
    x_train, y_train = load_arrays(request["data"])
    x_test, y_test = load_arrays(request["test_data"])
    x_test_batches = [x for x, _ in batches(runner.as_tensor(x_test), y_test, 1000)]
    rng, train_seconds = np.random.default_rng(SEED), 0.0
    for epoch in range(1, request["max_epochs"] + 1):
        order = rng.permutation(len(x_train))
        x_epoch, y_epoch = runner.as_tensor(x_train[order]), runner.as_tensor(y_train[order])
        start = time.perf_counter()
        for xb, yb in batches(x_epoch, y_epoch, workload.batch):
            runner.train_step(xb, yb)
        if runner.schedule is not None:
            runner.schedule.step()
        train_seconds += time.perf_counter() - start
        predictions = np.concatenate([runner.predict(xb).argmax(axis=1) for xb in x_test_batches])
        accuracy = float(np.mean(predictions == y_test[:len(predictions)]))
        yield {"epoch": epoch, "train_seconds": train_seconds, "test_accuracy": accuracy,
               "peak_rss_mib": peak_rss_mib()}


MEASUREMENTS = {"throughput": measure_throughput}


def save_arrays(folder: Path, x: np.ndarray, y: np.ndarray) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "x.npy", x)
    np.save(folder / "y.npy", y.astype(np.int64))
    return str(folder)


def load_arrays(folder: str) -> tuple[np.ndarray, np.ndarray]:
    return (np.load(Path(folder) / "x.npy", allow_pickle=False),
            np.load(Path(folder) / "y.npy", allow_pickle=False))


# --------------------------------------------------------------------------------------
# The server side: one process per framework, one forked child per measurement
# --------------------------------------------------------------------------------------
RESULT_PREFIX = "RESULT "


def _measure_in_child(framework: str, request: dict, conn) -> None:
    from threadpoolctl import threadpool_limits

    try:
        with threadpool_limits(limits=request["threads"]):
            result = MEASUREMENTS[request["kind"]](framework, request)
    except Exception as err:  # reported in the table; the benchmark goes on with the next one
        traceback.print_exc()
        result = {"error": f"{type(err).__name__}: {err}"}
    conn.send(result)
    conn.close()


def measure_forked(framework: str, request: dict) -> dict:
    """Run one measurement in a forked child and return its result (or an ``error``)."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_measure_in_child, args=(framework, request, sender))
    child.start()
    sender.close()
    try:
        result = receiver.recv()
    except EOFError:
        result = {"error": "the measuring process died (out of memory?)"}
    child.join()
    return result


def _epochs_in_child(framework: str, request: dict, conn, parent_end) -> None:
    """Train one more epoch each time the parent sends True; stop when it sends False or goes away."""
    from threadpoolctl import threadpool_limits

    parent_end.close()  # the fork copied it; kept open, recv() would never see the parent go away
    with threadpool_limits(limits=request["threads"]):
        epochs = accuracy_epochs(framework, request)
        try:
            while conn.recv():
                conn.send(_next_epoch(epochs, request["max_epochs"]))
        except (EOFError, OSError):  # the server exited (e.g. interrupted): nobody is waiting for an answer
            pass
    conn.close()


def _next_epoch(epochs, max_epochs: int) -> dict:
    """The next epoch's figures, or an ``error`` (reported in the table; the benchmark goes on)."""
    try:
        return next(epochs, {"error": f"no epoch after {max_epochs}"})
    except Exception as err:
        traceback.print_exc()
        return {"error": f"{type(err).__name__}: {err}"}


class EpochSession:
    """A forked child that trains a time-to-accuracy run one epoch per ``next_epoch()``, so the
    parent can alternate frameworks epoch by epoch (load from other processes, which drifts
    over minutes on a shared machine, then hits both alike)."""

    def __init__(self, framework: str, request: dict):
        context = multiprocessing.get_context("fork")
        self.conn, child_end = context.Pipe()
        self.child = context.Process(target=_epochs_in_child, args=(framework, request, child_end, self.conn))
        self.child.start()
        child_end.close()

    def next_epoch(self) -> dict:
        try:
            self.conn.send(True)
            return self.conn.recv()
        except (EOFError, OSError):  # OSError: BrokenPipeError, ConnectionResetError
            return {"error": "the training process died (out of memory?)"}

    def close(self) -> None:
        try:
            self.conn.send(False)
        except OSError:  # it has already exited
            pass
        self.child.join()


def serve(framework: str) -> None:
    """Import ``framework`` once, then answer one JSON request per stdin line with a result line.

    Kinds: ``throughput`` (one forked measurement); ``accuracy-start``, ``accuracy-epoch`` and
    ``accuracy-end`` (an EpochSession: start it, train its next epoch, end it).
    """
    # Ctrl-C reaches the whole process group: this server and its measuring children end at once,
    # without a traceback each, and the parent says it was interrupted (run_main).
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if framework == "sklearn":
        import sklearn.neural_network  # noqa: F401 (imported before forking)
    elif framework == "torch":
        import torch  # noqa: F401
    else:
        import scratchnet.nn  # noqa: F401
    session = None
    for line in sys.stdin:
        request = json.loads(line)
        kind = request["kind"]
        if kind == "accuracy-start":
            if session is not None:
                session.close()
            session, result = EpochSession(framework, request), {}
        elif kind in ("accuracy-epoch", "accuracy-end") and session is None:
            result = {"error": f"{kind} without a time-to-accuracy run; send accuracy-start first"}
        elif kind == "accuracy-epoch":
            result = session.next_epoch()
        elif kind == "accuracy-end":
            session.close()
            session, result = None, {}
        else:
            result = measure_forked(framework, request)
        print(RESULT_PREFIX + json.dumps(result), flush=True)


class Server:
    """The parent's handle on one framework's server process."""

    def __init__(self, framework: str):
        self.framework = framework
        env = dict(os.environ)
        if framework == "scratchnet":  # the BLAS settings the scratchnet command runs with (runtime.py)
            from scratchnet.runtime import blas_environment
            env.update(blas_environment())
        self.process = subprocess.Popen([sys.executable, __file__, "serve", framework], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, cwd=REPO, env=env)

    def request(self, request: dict) -> dict:
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        except OSError:  # BrokenPipeError: it has exited
            return {"error": f"the {self.framework} server exited with code {self.process.wait()}"}
        for line in self.process.stdout:  # other output (a library's print) is skipped
            if line.startswith(RESULT_PREFIX):
                return json.loads(line[len(RESULT_PREFIX):])
        return {"error": f"the {self.framework} server exited with code {self.process.wait()}"}

    def close(self) -> None:
        try:
            self.process.stdin.close()
        except OSError:  # it has exited with a request unread
            pass
        self.process.wait()


# --------------------------------------------------------------------------------------
# The parent: settings, GEMM roofline, running a suite, printing it
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    """How long and how wide to measure. ``quick`` shrinks everything for the smoke test."""

    threads: int
    seconds: float = 3.0
    rounds: int = 2
    quick: bool = False

    @property
    def warmup_seconds(self) -> float:
        return 0.0 if self.quick else min(1.0, self.seconds / 4)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options both benchmark scripts take."""
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="threads for NumPy's BLAS and PyTorch (default: all cores of this machine)")
    parser.add_argument("--seconds", type=float, default=3.0,
                        help="timed seconds per framework, workload and round (default 3)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="alternating rounds per workload; the best round is reported (default 2)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny batches and timings: checks that everything runs (seconds in all)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")


def settings_from(args: argparse.Namespace) -> Settings:
    if args.threads < 1 or args.seconds <= 0 or args.rounds < 1:
        raise SystemExit("benchmarks: --threads and --rounds must be >= 1 and --seconds > 0")
    if args.quick:
        return Settings(threads=args.threads, seconds=0.05, rounds=1, quick=True)
    return Settings(threads=args.threads, seconds=args.seconds, rounds=args.rounds)


def quick_version(workload: Workload) -> Workload:
    """The same architecture at batch <= 8, for the smoke test."""
    return replace(workload, batch=min(workload.batch, 8))


def sgemm_gflops(size: int = 1024, seconds: float = 0.3) -> float:
    """Float32 matrix-multiply throughput of NumPy's BLAS under the current thread limits: the
    best of repeated size×size products over ``seconds``, 2·size³ FLOPs each."""
    rng = np.random.default_rng(SEED)
    a, b = rng.random((size, size), dtype=np.float32), rng.random((size, size), dtype=np.float32)
    out, best = np.empty_like(a), math.inf
    np.matmul(a, b, out=out)
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or best == math.inf:
        t = time.perf_counter()
        np.matmul(a, b, out=out)
        best = min(best, time.perf_counter() - t)
    return 2 * size ** 3 / best / 1e9


def _pool_size(workload: Workload) -> int:
    """Enough samples for several distinct batches (at least 2,048 samples or 2 batches)."""
    return workload.batch * max(2, math.ceil(2048 / workload.batch))


class Servers:
    """One server per framework, started on first use and shared by every measurement."""

    def __init__(self):
        self._servers: dict[str, Server] = {}

    def request(self, framework: str, request: dict) -> dict:
        if framework not in self._servers:
            self._servers[framework] = Server(framework)
        return self._servers[framework].request(request)

    def __enter__(self) -> "Servers":
        return self

    def __exit__(self, *exc) -> None:
        for server in self._servers.values():
            server.close()


def run_suite(workloads: list[Workload], settings: Settings, servers: Servers) -> dict:
    """Measure every workload in scratchnet and PyTorch (and scikit-learn where it applies)."""
    if settings.quick:
        workloads = [quick_version(w) for w in workloads]
    rows = []
    with tempfile.TemporaryDirectory(prefix="scratchnet-bench-") as tmp:
        for workload in workloads:
            rows.append(_measure_workload(workload, servers, settings, Path(tmp) / workload.name))
            print(f"  measured {workload.title}", file=sys.stderr)
    sgemm = [r["sgemm_gflops"] for row in rows for r in row["results"].values() if "sgemm_gflops" in r]
    return {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine_description(),
            "threads": settings.threads, "seconds": settings.seconds, "rounds": settings.rounds,
            "quick": settings.quick, "sgemm_gflops_range": [min(sgemm, default=0.0), max(sgemm, default=0.0)],
            "rows": rows}


def _measure_workload(workload: Workload, servers: Servers, settings: Settings, folder: Path) -> dict:
    x, y, source = sample_pool(workload, 2 * workload.batch if settings.quick else _pool_size(workload))
    request = {"kind": "throughput", "workload": workload.to_json(), "data": save_arrays(folder, x, y),
               "weights": str(folder / "weights.npz"), "threads": settings.threads,
               "seconds": settings.seconds, "warmup_seconds": settings.warmup_seconds, "quick": settings.quick}
    # scratchnet first in every round: it writes the initial weights PyTorch loads.
    frameworks = ["scratchnet", "torch"] + (["sklearn"] if workload.sklearn else [])
    rounds = {name: [] for name in frameworks}
    for _ in range(settings.rounds):
        for name in frameworks:
            rounds[name].append(servers.request(name, request))
    return {"name": workload.name, "title": workload.title, "data": source, "batch": workload.batch,
            "training": workload.training, "gemm_flops_per_sample": step_gemm_flops(workload),
            "results": {name: best_round(results) for name, results in rounds.items()}}


def best_round(results: list[dict]) -> dict:
    """The fastest round, with the highest peak RSS of all rounds; an error if none succeeded."""
    good = [r for r in results if "samples_per_s" in r]
    if not good:
        return results[0]
    best = dict(max(good, key=lambda r: r["samples_per_s"]))
    best["peak_rss_mib"] = max(r["peak_rss_mib"] for r in good)
    return best


def run_time_to_accuracy(settings: Settings, servers: Servers, data, target: float, max_epochs: int,
                         batch: int = ACCURACY_BATCH) -> dict:
    """Time to ``target`` test accuracy on ``data`` (Fashion-MNIST, from ``load_real``), same recipe
    with the cosine schedule over ``max_epochs`` in both frameworks, alternating epoch by epoch:
    scratchnet's epoch 1, PyTorch's epoch 1, scratchnet's epoch 2, ... (quick: 256 training and
    1,000 test images, two epochs)."""
    max_epochs = min(max_epochs, 2) if settings.quick else max_epochs
    recipe = accuracy_recipe(batch, max_epochs)
    train_n, test_n = (256, 1000) if settings.quick else (len(data.x_train), len(data.x_test))
    with tempfile.TemporaryDirectory(prefix="scratchnet-tta-") as tmp:
        folder = Path(tmp)
        request = {
            "kind": "accuracy-start", "workload": recipe.to_json(), "threads": settings.threads,
            "weights": str(folder / "weights.npz"), "max_epochs": max_epochs,
            "data": save_arrays(folder / "train", as_inputs(data.x_train[:train_n], recipe.input_shape),
                                data.y_train[:train_n]),
            "test_data": save_arrays(folder / "test", as_inputs(data.x_test[:test_n], recipe.input_shape),
                                     data.y_test[:test_n]),
        }
        results = alternate_epochs(servers, request, target, max_epochs)
    return {"recipe": recipe.title, "dataset": f"{data.name} ({train_n:,} train / {test_n:,} test images)",
            "target": target, "max_epochs": max_epochs, "alternated": "epoch by epoch", "results": results}


def alternate_epochs(servers: Servers, start: dict, target: float, max_epochs: int) -> dict:
    """Each framework's time-to-accuracy result, training one epoch of each in turn (scratchnet
    first: it writes the initial weights PyTorch loads) until each reaches ``target`` or
    ``max_epochs``."""
    frameworks = ("scratchnet", "torch")
    histories, errors = {name: [] for name in frameworks}, {}
    for name in frameworks:
        started = servers.request(name, start)
        if "error" in started:
            errors[name] = started
    running = [name for name in frameworks if name not in errors]
    while running:
        for name in list(running):
            epoch = servers.request(name, {"kind": "accuracy-epoch"})
            if "error" in epoch:
                errors[name] = epoch
            else:
                histories[name].append(epoch)
            if "error" in epoch or epoch["test_accuracy"] >= target or epoch["epoch"] >= max_epochs:
                running.remove(name)
                servers.request(name, {"kind": "accuracy-end"})
    # A run that failed after some epochs keeps them, for the JSON report.
    return {name: {**(_accuracy_summary(histories[name], target) if histories[name] else {}), **errors.get(name, {})}
            for name in frameworks}


def _accuracy_summary(history: list[dict], target: float) -> dict:
    last = history[-1]
    return {"reached": last["test_accuracy"] >= target, "epochs": last["epoch"],
            "train_seconds": last["train_seconds"], "test_accuracy": last["test_accuracy"],
            "history": [{k: h[k] for k in ("epoch", "train_seconds", "test_accuracy")} for h in history],
            "peak_rss_mib": max(h["peak_rss_mib"] for h in history)}


def machine_description() -> str:
    """CPU model and core count, e.g. "AMD EPYC (2 cores), NumPy 2.4 + OpenBLAS"."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu} ({os.cpu_count()} cores), Linux, Python {sys.version.split()[0]}, NumPy {np.__version__}"


def _fmt(value, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def throughput_table(report: dict) -> str:
    """The results as a Markdown table (readable as plain text too)."""
    header = ["workload", "data", "scratchnet samples/s", "PyTorch samples/s", "ratio",
              "sklearn samples/s", "ratio vs sklearn", "peak RSS scratchnet MiB", "peak RSS PyTorch MiB",
              "GEMM peak % scratchnet", "GEMM peak % PyTorch"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in report["rows"]:
        res = row["results"]
        sn, pt, sk = (res.get(name, {}) for name in ("scratchnet", "torch", "sklearn"))
        rate = {name: r.get("samples_per_s") for name, r in (("sn", sn), ("pt", pt), ("sk", sk))}
        cells = [
            row["title"], row["data"], _fmt(rate["sn"], ",.0f"), _fmt(rate["pt"], ",.0f"),
            _fmt(rate["sn"] / rate["pt"] if rate["sn"] and rate["pt"] else None, ".2f"),
            _fmt(rate["sk"], ",.0f"),
            _fmt(rate["sn"] / rate["sk"] if rate["sn"] and rate["sk"] else None, ".2f"),
            _fmt(sn.get("peak_rss_mib"), ".0f"), _fmt(pt.get("peak_rss_mib"), ".0f"),
            _fmt(100 * sn["gemm_fraction"] if "gemm_fraction" in sn else None, ".1f"),
            _fmt(100 * pt["gemm_fraction"] if "gemm_fraction" in pt else None, ".1f"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    errors = [f"- {row['title']} / {FRAMEWORK_LABELS[name]}: {r['error']}"
              for row in report["rows"] for name, r in row["results"].items() if "error" in r]
    return "\n".join(lines + (["", "Errors:"] + errors if errors else []))


def report_header(report: dict) -> str:
    low, high = report["sgemm_gflops_range"]
    mode = "QUICK MODE (tiny batches, timings meaningless)" if report["quick"] else \
        f"best of {report['rounds']} alternating rounds of {report['seconds']:g} s each"
    return (f"{report['date']} on {report['machine']}\n"
            f"threads: {report['threads']}; {mode}; NumPy sgemm measured after each measurement: "
            f"{low:.1f} to {high:.1f} GFLOP/s")


def accuracy_table(report: dict) -> str:
    header = ["framework", "reached", "epochs", "training seconds", "test accuracy", "peak RSS MiB"]
    lines = [f"Time to {100 * report['target']:g}% test accuracy: {report['recipe']} on {report['dataset']}, "
             f"at most {report['max_epochs']} epochs", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, r in report["results"].items():
        if "error" in r:
            lines.append(f"| {FRAMEWORK_LABELS[name]} | error: {r['error']} |")
            continue
        lines.append(f"| {FRAMEWORK_LABELS[name]} | {'yes' if r['reached'] else 'no'} | {r['epochs']} | "
                     f"{r['train_seconds']:.1f} | {100 * r['test_accuracy']:.2f}% | {r['peak_rss_mib']:.0f} |")
    return "\n".join(lines)


def print_report(report: dict) -> None:
    """Header, throughput table and (when measured) the time-to-accuracy table, on stdout."""
    print(report_header(report), throughput_table(report), sep="\n\n")
    if "time_to_accuracy" in report:
        print("", accuracy_table(report["time_to_accuracy"]), sep="\n")


def run_main(main) -> int:
    """Run a benchmark script's ``main``; Ctrl-C ends it with one line instead of tracebacks."""
    try:
        return main()
    except KeyboardInterrupt:
        print("\nbenchmark interrupted: no table printed, no JSON written", file=sys.stderr)
        return 130


def write_json(path: str | None, report: dict) -> None:
    if path:
        Path(path).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "serve" or sys.argv[2] not in FRAMEWORK_LABELS:
        raise SystemExit("usage: python benchmarks/common.py serve {scratchnet,torch,sklearn} "
                         "(started by benchmarks/engine.py and benchmarks/performance.py)")
    serve(sys.argv[2])
