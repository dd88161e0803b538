"""Running a suite: settings, the alternating rounds of each workload, time to accuracy.

Both frameworks get the same architecture, the same initial weights (scratchnet writes its
``state_dict`` to a ``.npz`` that PyTorch loads), the same batches and the same thread count.
Rounds alternate scratchnet and PyTorch so that load from other processes hits both alike;
the best round of each is reported. The time-to-accuracy runs alternate too, one epoch at a
time: each framework's run lives in a forked child that trains its next epoch when asked.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from isolation import Servers
from tables import machine_description
from workloads import (ACCURACY_BATCH, Workload, accuracy_recipe, as_inputs, sample_pool, save_arrays,
                       step_gemm_flops)

# PyTorch as users run it, then PyTorch with scratchnet's allocator settings (runners.FRAMEWORK_LABELS).
TORCH_FRAMEWORKS = ("torch", "torch-mallopt")


@dataclass(frozen=True)
class Settings:
    """How long and how wide to measure. ``quick`` shrinks everything for the smoke test."""

    threads: int
    seconds: float = 3.0
    rounds: int = 2
    quick: bool = False
    keep_environment: bool = False

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
    parser.add_argument("--keep-environment", action="store_true",
                        help="measure with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE as this environment sets them "
                             "(default: removed in the measuring processes, as on a user's machine)")


def settings_from(args: argparse.Namespace) -> Settings:
    if args.threads < 1 or args.seconds <= 0 or args.rounds < 1:
        raise SystemExit("benchmarks: --threads and --rounds must be >= 1 and --seconds > 0")
    if args.quick:
        return Settings(threads=args.threads, seconds=0.05, rounds=1, quick=True,
                        keep_environment=args.keep_environment)
    return Settings(threads=args.threads, seconds=args.seconds, rounds=args.rounds,
                    keep_environment=args.keep_environment)


def quick_version(workload: Workload) -> Workload:
    """The same architecture at batch <= 8, for the smoke test."""
    return replace(workload, batch=min(workload.batch, 8))


def _pool_size(workload: Workload) -> int:
    """Enough samples for several distinct batches (at least 2,048 samples or 2 batches)."""
    return workload.batch * max(2, math.ceil(2048 / workload.batch))



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
    kernels = sorted({r["blas_architecture"] for row in rows for r in row["results"].values()
                      if "blas_architecture" in r})
    return {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine_description(),
            "threads": settings.threads, "seconds": settings.seconds, "rounds": settings.rounds,
            "quick": settings.quick, "sgemm_gflops_range": [min(sgemm, default=0.0), max(sgemm, default=0.0)],
            "blas_architecture": kernels, "environment": environment_note(settings.keep_environment),
            "rows": rows}


def environment_note(keep_environment: bool) -> str:
    """What the measuring processes saw of the variables that override OpenBLAS's choice of kernels."""
    from isolation import MACHINE_OVERRIDES

    present = [f"{key}={os.environ[key]}" for key in MACHINE_OVERRIDES if key in os.environ]
    if not present:
        return "no OpenBLAS overrides in the environment"
    return ("kept " if keep_environment else "removed ") + ", ".join(present)


def _measure_workload(workload: Workload, servers: Servers, settings: Settings, folder: Path) -> dict:
    x, y, source = sample_pool(workload, 2 * workload.batch if settings.quick else _pool_size(workload))
    request = {"kind": "throughput", "workload": workload.to_json(), "data": save_arrays(folder, x, y),
               "weights": str(folder / "weights.npz"), "threads": settings.threads,
               "seconds": settings.seconds, "warmup_seconds": settings.warmup_seconds, "quick": settings.quick}
    # scratchnet first in every round: it writes the initial weights PyTorch loads.
    frameworks = ["scratchnet", *TORCH_FRAMEWORKS] + (["sklearn"] if workload.sklearn else [])
    rounds = {name: [] for name in frameworks}
    for _ in range(settings.rounds):
        for name in frameworks:
            rounds[name].append(servers.request(name, request))
    return {"name": workload.name, "title": workload.title, "data": source, "batch": workload.batch,
            "training": workload.training, "gemm_flops_per_sample": step_gemm_flops(workload),
            "results": {name: best_round(results) for name, results in rounds.items()},
            "ratio_per_round": {name: round_ratios(rounds["scratchnet"], rounds[name]) for name in TORCH_FRAMEWORKS}}


def round_ratios(ours: list[dict], theirs: list[dict]) -> list[float]:
    """scratchnet's samples/s over the other framework's, round by round (the spread under drifting load)."""
    return [a["samples_per_s"] / b["samples_per_s"] for a, b in zip(ours, theirs)
            if "samples_per_s" in a and "samples_per_s" in b]


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

