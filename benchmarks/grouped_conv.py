"""Grouped and depthwise Conv2d against a dense Conv2d of the same FLOPs (issue 14), and against PyTorch.

    python benchmarks/grouped_conv.py [--channels 64] [--size 16] [--batch 64] [--threads 1]
                                      [--seconds 1] [--quick]

A Conv2d(C, C, 3, padding=1, groups=G) does 2·N·H·W·C·(C/G)·9 multiply-adds' FLOPs, exactly
as many as the dense Conv2d(C/G, C, 3, padding=1) on an input with C/G channels: same output,
same FLOPs, no groups. The issue's rule is that the grouped one is never 10x slower than
that dense one (no Python loop over groups). Each row times a training step (forward and
backward with dL/dx) of both, the ratio, and torch's time for the grouped layer in the same
process, with the same thread count (threadpoolctl for NumPy's BLAS, torch.set_num_threads).
The smallest CPU time per step of a few repeats of at least ``--seconds`` each is reported
(CPU time, so that other processes on a shared machine inflate it less than wall time).
"""
from __future__ import annotations

import os
import sys

_BLAS_TUNING = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")  # measuring processes run without them
if any(name in os.environ for name in _BLAS_TUNING):
    os.execve(sys.executable, [sys.executable, *sys.argv],
              {k: v for k, v in os.environ.items() if k not in _BLAS_TUNING})

import argparse  # noqa: E402  (after the re-exec above, so BLAS loads with the right environment)
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from scratchnet import nn  # noqa: E402


def best_seconds(step, seconds: float, repeats: int = 3) -> float:
    """The smallest mean CPU time of one ``step()`` over ``repeats`` runs of at least ``seconds`` each.

    CPU time of this process (all its threads), not wall time: on a machine shared with other
    work, wall time also counts the time others held the cores; with one thread the two agree
    on an idle machine.
    """
    step()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        count, start = 0, time.process_time()
        while True:
            step()
            count += 1
            elapsed = time.process_time() - start
            if elapsed >= seconds:
                break
        best = min(best, elapsed / count)
    return best


def scratchnet_step(conv: nn.Conv2d, x: np.ndarray):
    g = np.ones_like(conv(x))

    def step():
        conv(x)
        conv.backward(g)
        conv.zero_grad()
    return step


def torch_step(conv: torch.nn.Conv2d, x: np.ndarray):
    xt = torch.from_numpy(x).requires_grad_()

    def step():
        conv(xt).sum().backward()
        conv.zero_grad()
        xt.grad = None
    return step


def row(channels: int, groups: int, size: int, batch: int, seconds: float) -> dict:
    rng = np.random.default_rng(0)
    per_group = channels // groups
    grouped = nn.Conv2d(channels, channels, 3, padding=1, groups=groups)
    dense = nn.Conv2d(per_group, channels, 3, padding=1)
    x = rng.standard_normal((batch, channels, size, size)).astype(np.float32)
    x_dense = rng.standard_normal((batch, per_group, size, size)).astype(np.float32)
    theirs = torch.nn.Conv2d(channels, channels, 3, padding=1, groups=groups)
    flops = 3 * 2 * batch * size * size * channels * per_group * 9  # forward, dL/dW and dL/dx
    t_grouped = best_seconds(scratchnet_step(grouped, x), seconds)
    t_dense = best_seconds(scratchnet_step(dense, x_dense), seconds)
    t_torch = best_seconds(torch_step(theirs, x), seconds)
    return dict(channels=channels, groups=groups, grouped_ms=1e3 * t_grouped, dense_ms=1e3 * t_dense,
                ratio=t_grouped / t_dense, torch_ms=1e3 * t_torch, gflops=flops / t_grouped / 1e9)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--size", type=int, default=16, help="height and width of the feature maps")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=1.0, help="minimum length of one timed repeat")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs; figures mean nothing")
    args = parser.parse_args(argv)
    if args.quick:
        args.channels, args.size, args.batch, args.seconds = 8, 6, 2, 0.01
    groups = [g for g in (1, 2, 4, 16, args.channels) if args.channels % g == 0 and g <= args.channels]
    torch.set_num_threads(args.threads)
    print(f"Conv2d({args.channels}, {args.channels}, 3, padding=1, groups=G) on {args.batch}x{args.channels}x"
          f"{args.size}x{args.size}, training step, {args.threads} thread(s), CPU ms per step; "
          "dense = Conv2d(C/G, C, 3), same FLOPs")
    print(f"{'G':>5} {'grouped ms':>11} {'dense ms':>9} {'ratio':>6} {'GFLOP/s':>8} {'torch ms':>9}")
    with threadpool_limits(limits=args.threads, user_api="blas"):
        for g in sorted(set(groups)):
            r = row(args.channels, g, args.size, args.batch, args.seconds)
            print(f"{g:>5} {r['grouped_ms']:>11.2f} {r['dense_ms']:>9.2f} {r['ratio']:>6.2f} {r['gflops']:>8.2f} "
                  f"{r['torch_ms']:>9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
