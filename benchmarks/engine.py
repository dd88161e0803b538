"""Engine benchmark (issue 2): scratchnet vs PyTorch training throughput, same run.

    python benchmarks/engine.py [--threads N] [--seconds S] [--rounds R] [--quick] [--keep-environment] [--json PATH]

Workloads: MLP 784-256-128-10 at batch 64 and at batch 1 (SGD), and the Fashion-MNIST
CNN3-512-0.1 of SEEDS.md 002 at batch 500 (Adam). Prints samples/s of both frameworks,
their ratio, each one's peak RSS and the fraction of this machine's NumPy sgemm
throughput reached. See benchmarks/README.md for how each figure is measured.
"""
from __future__ import annotations

import argparse
import sys

import suite
import tables
import workloads
from isolation import Servers

ENGINE_WORKLOADS = ("mlp-b64", "mlp-b1", "cnn3-512-0.1")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    suite.add_arguments(parser)
    args = parser.parse_args(argv)
    settings = suite.settings_from(args)
    with Servers(settings.keep_environment) as servers:
        report = suite.run_suite([workloads.WORKLOADS[name] for name in ENGINE_WORKLOADS], settings, servers)
    tables.print_report(report)
    tables.write_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(tables.run_main(main))
