"""The same grid search three ways: local worker processes, Ray Tune without a scheduler, Ray Tune
with ASHA. Prints each one's wall time and best trial, and whether ASHA found the same best model.

The search is SEEDS 002's grid (``fashion-cnn-grid``: CNN3/CNN5 × 128/256/512 filters × dropout
0.1/0.25, Adam 1e-3, batch 500) cut down to a size a laptop runs in about an hour: ``--epochs``
epochs (default 10) on ``--subset`` (default 20,000) training images of Fashion-MNIST, validated on
``--val`` (default 5,000) more: the first ``subset + val`` images of its training set, split with seed 0. Each backend gets its own output folder and a fresh start::

    python benchmarks/search_backends.py --out runs/search-backends [--epochs 10] [--subset 20000]
    python benchmarks/search_backends.py --out runs/sb-quick --models cnn3-128-0.1,cnn3-128-0.25 --epochs 2 --subset 2000

Like the other benchmarks, the searches run without ``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE``
(``--keep-environment`` keeps them). Results: ``OUT/comparison.json`` and the table printed.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from isolation import measuring_environment
from workloads import REPO

from scratchnet.experiments.procedures import GRID_MODELS

BACKENDS = {  # name: the search flags that select it
    "local": ["--jobs", "2"],
    "ray": ["--backend", "ray", "--cpus-per-trial", "1"],
    "ray-asha": ["--backend", "ray", "--cpus-per-trial", "1", "--scheduler", "asha"],
}
LABELS = {"local": "local --jobs 2", "ray": "Ray, no scheduler", "ray-asha": "Ray + ASHA"}


def search_command(out: Path, models: list[str], epochs: int, subset: int, val: int, root: str) -> list[str]:
    """The `scratchnet search` command line of the grid, without the backend flags."""
    settings = {"dataset": "fashion-mnist", "root": root, "optimizer": "adam", "lr": 1e-3, "batch-size": 500,
                "epochs": epochs, "train-subset": subset + val, "val-size": val, "split-seed": 0, "seed": 0}
    command = [sys.executable, "-m", "scratchnet", "search", "--out", str(out), "--grid", "model=" + ",".join(models)]
    for key, value in settings.items():
        command += ["--set", f"{key}={value}"]
    return command


def run_backend(name: str, out: Path, base: list[str], env: dict[str, str]) -> dict:
    """Run one backend's search from scratch and return its wall time and rows."""
    if out.exists():
        raise SystemExit(f"{out} exists: give another --out, or delete it to measure from scratch")
    command = base + BACKENDS[name]
    print(f"\n== {LABELS[name]}: {' '.join(command)}", flush=True)
    start = time.perf_counter()
    subprocess.run(command, env=env, cwd=REPO, check=True)
    seconds = time.perf_counter() - start
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return {"backend": LABELS[name], "wall_seconds": round(seconds, 1), "rows": rows}


def summary(result: dict) -> dict:
    """Best trial by validation loss, epochs trained in all and trials stopped early."""
    rows = [row for row in result["rows"] if row.get("val_loss")]
    best = min(rows, key=lambda row: float(row["val_loss"]))
    return {"backend": result["backend"], "wall_seconds": result["wall_seconds"], "best_model": best["model"],
            "best_val_loss": float(best["val_loss"]), "best_val_accuracy": float(best["val_accuracy"]),
            "epochs_trained": sum(int(float(row["epochs_run"])) for row in rows),
            "stopped": sum(row.get("status", "").startswith("stopped") for row in result["rows"])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the three searches and comparison.json")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--subset", type=int, default=20000, help="training images (of Fashion-MNIST's 50,000)")
    parser.add_argument("--val", type=int, default=5000, help="validation images, taken besides the subset")
    parser.add_argument("--models", default=",".join(GRID_MODELS), help="comma-separated zoo names")
    parser.add_argument("--root", default=str(REPO.parent / "shared" / "datasets" / "fashion-mnist"))
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated, of: " + ", ".join(BACKENDS))
    parser.add_argument("--grace-period", type=int, help="ASHA's grace period in epochs (default: search's, 1)")
    parser.add_argument("--keep-environment", action="store_true", help="keep OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE")
    args = parser.parse_args(argv)
    env = measuring_environment("scratchnet", args.keep_environment)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    models = args.models.split(",")
    results = []
    for index, name in enumerate(args.backends.split(",")):
        out = args.out.resolve() / f"{index}-{name}"
        command = search_command(out, models, args.epochs, args.subset, args.val, args.root)
        if name == "ray-asha" and args.grace_period is not None:
            command += ["--grace-period", str(args.grace_period)]
        results.append(run_backend(name, out, command, env))
    table = [summary(result) for result in results]
    print(f"\n{len(models)} models, {args.epochs} epochs, {args.subset:,} Fashion-MNIST training images, "
          f"{args.val:,} validation images")
    print(f"{'backend':<20} {'wall s':>8} {'epochs':>7} {'stopped':>8}  best model (val loss, val accuracy)")
    for row in table:
        print(f"{row['backend']:<20} {row['wall_seconds']:>8.1f} {row['epochs_trained']:>7} {row['stopped']:>8}  "
              f"{row['best_model']} ({row['best_val_loss']:.4f}, {row['best_val_accuracy']:.2%})")
    same = len({row["best_model"] for row in table}) == 1
    print("every backend found the same best model" if same else "the backends disagree on the best model")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "comparison.json").write_text(json.dumps(
        {"models": models, "epochs": args.epochs, "subset": args.subset, "val": args.val, "when": time.strftime("%Y-%m-%d %H:%M UTC",
         time.gmtime()), "table": table, "same_best_model": same, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
