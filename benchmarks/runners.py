"""The frameworks behind one small interface (``train_step(x, y)``, ``predict(x)``) and the
measurements a forked child makes with them: throughput, scikit-learn's MLPClassifier, the
sgemm roofline, and time-to-accuracy epochs."""
from __future__ import annotations

import math
import resource
import time
from pathlib import Path

import numpy as np

from workloads import SEED, Workload, batches, build_model, load_arrays, step_gemm_flops

# "torch-mallopt" is PyTorch in a process given scratchnet's glibc malloc settings (scratchnet/runtime.py),
# so that the engine's own speed can be told apart from the allocator's; "torch" is PyTorch as users run it.
FRAMEWORK_LABELS = {"scratchnet": "scratchnet", "torch": "PyTorch", "torch-mallopt": "PyTorch + mallopt",
                    "sklearn": "scikit-learn"}


# Layers that may run on scratchnet's Numba kernels (nn/kernels): only their workloads load Numba,
# as in a user's process, where Numba is imported on a kernel's first use.
KERNEL_LAYERS = ("Conv2d", "BatchNorm1d", "BatchNorm2d", "BasicBlock", "Zoo")


class ScratchnetRunner:
    """A scratchnet model, loss and optimiser for one workload (its threads are limited by
    threadpoolctl in the caller)."""

    def __init__(self, workload: Workload, weights: Path, threads: int):
        import scratchnet
        from scratchnet import nn, optim

        if any(name in KERNEL_LAYERS for name, *_ in workload.layers):
            nn.kernels.prepare()  # compile or load the Numba kernels before anything is timed
        scratchnet.manual_seed(SEED)
        self.model = build_model(nn, workload.layers)
        np.savez(weights, **self.model.state_dict())  # PyTorch starts from these weights
        self.loss_fn = nn.CrossEntropyLoss()
        self.optimizer = getattr(optim, workload.optimizer)(self.model.parameters(), **workload.optimizer_options) \
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
        self.optimizer = getattr(torch.optim, workload.optimizer)(self.model.parameters(),
                                                                  **workload.optimizer_options) if workload.training else None
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


RUNNERS = {"scratchnet": ScratchnetRunner, "torch": TorchRunner, "torch-mallopt": TorchRunner}


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
    return {"sgemm_gflops": gflops, "gemm_fraction": samples_per_s * step_gemm_flops(workload) / (gflops * 1e9),
            "blas_architecture": blas_architecture()}


def blas_architecture() -> str:
    """The CPU kernels NumPy's BLAS runs: OpenBLAS's ``architecture`` as threadpoolctl reports it
    (e.g. "SkylakeX", or "Haswell" when OPENBLAS_CORETYPE forces it), else the BLAS's name."""
    from threadpoolctl import threadpool_info

    blas = [lib for lib in threadpool_info() if lib["user_api"] == "blas"]
    return (blas[0].get("architecture") or blas[0]["internal_api"]) if blas else "unknown"


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

