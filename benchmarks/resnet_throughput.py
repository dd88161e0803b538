"""Training throughput of resnet20 on 3×32×32 at batch 128 (SGD, momentum 0.9): scratchnet and torch.

    python benchmarks/resnet_throughput.py [--steps 5] [--threads 2] [--batch-size 128]

Each framework runs in its own fresh process (``python -c``), one after the other, with
the same thread count and without OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE (the project's rule
for measuring processes). The torch model is tests/torch_resnets.py's hand-written copy of
the zoo's resnet20, with the same state_dict keys. A step is forward, cross-entropy,
backward and the optimiser step on random images (throughput does not depend on pixel
values); one warm-up step is not timed. Prints samples/s per framework and the ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SCRATCHNET = """
import json, time, numpy as np
from threadpoolctl import threadpool_limits
from scratchnet import manual_seed, nn, optim, zoo
manual_seed(0)
_, model = zoo.build("resnet20", (3, 32, 32))
opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
loss_fn = nn.CrossEntropyLoss()
rng = np.random.default_rng(0)
x = rng.standard_normal((BATCH, 3, 32, 32)).astype(np.float32)
y = rng.integers(0, 10, BATCH)
def step():
    loss_fn(model(x), y)
    model.backward(loss_fn.backward(), input_grad=False)
    opt.step(); opt.zero_grad()
with threadpool_limits(THREADS):
    step()
    start = time.perf_counter()
    for _ in range(STEPS):
        step()
    print(json.dumps({"seconds": time.perf_counter() - start}))
"""

TORCH = """
import json, sys, time, torch
sys.path.insert(0, TESTS)
from torch_resnets import TORCH_MODELS
torch.manual_seed(0); torch.set_num_threads(THREADS)
model = TORCH_MODELS["resnet20"](3).train()
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
loss_fn = torch.nn.CrossEntropyLoss()
x = torch.randn(BATCH, 3, 32, 32); y = torch.randint(0, 10, (BATCH,))
def step():
    loss_fn(model(x), y).backward()
    opt.step(); opt.zero_grad()
step()
start = time.perf_counter()
for _ in range(STEPS):
    step()
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def measure(code: str, steps: int, threads: int, batch: int) -> float:
    """Samples per second of ``code`` run in a fresh process."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    program = (code.replace("BATCH", str(batch)).replace("THREADS", str(threads)).replace("STEPS", str(steps))
               .replace("TESTS", repr(str(REPO / "tests"))))
    out = subprocess.run([sys.executable, "-c", program], env=env, check=True, capture_output=True, text=True)
    return steps * batch / json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="timed training steps per framework (default: 5)")
    parser.add_argument("--threads", type=int, default=2, help="threads for both frameworks (default: 2)")
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args(argv)
    rates = {name: measure(code, args.steps, args.threads, args.batch_size)
             for name, code in (("scratchnet", SCRATCHNET), ("torch", TORCH))}
    print(f"resnet20, 3x32x32, batch {args.batch_size}, SGD momentum 0.9, {args.threads} threads, "
          f"{args.steps} timed steps each")
    print(f"{'framework':<12}{'samples/s':>12}")
    for name, rate in rates.items():
        print(f"{name:<12}{rate:>12.1f}")
    print(f"scratchnet / torch: {rates['scratchnet'] / rates['torch']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
