"""Full performance suite (issue 6): scratchnet vs PyTorch (and scikit-learn) on the CPU.

    python benchmarks/performance.py [--only NAME,...] [--time-to-accuracy] [--threads N]
                                     [--seconds S] [--rounds R] [--quick] [--keep-environment] [--json PATH]

Workloads (names for --only): mlp-b64 (also against scikit-learn's MLPClassifier),
mlp-b1, mlp-infer-b1000, cnn3-512-0.1, cnn3-512-0.1-pad1, lenet5, dense10k, resnet20 (the zoo's),
resnet20-block (a user-written residual block).
Each is measured against PyTorch as users run it and against PyTorch given scratchnet's
glibc malloc settings. --time-to-accuracy adds the
time each framework needs to reach --target test accuracy on Fashion-MNIST with the same
recipe: CNN3-512-0.1, Adam with a cosine schedule over --max-epochs, batch --accuracy-batch
(minutes). See benchmarks/README.md for how each figure is measured.
"""
from __future__ import annotations

import argparse
import sys

import suite
import tables
import workloads
from isolation import Servers


def parse_only(value: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in workloads.WORKLOADS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown workload(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(workloads.WORKLOADS)}")
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    suite.add_arguments(parser)
    parser.add_argument("--only", type=parse_only, default=list(workloads.WORKLOADS), metavar="NAME,...",
                        help=f"workloads to run (default all: {', '.join(workloads.WORKLOADS)})")
    parser.add_argument("--time-to-accuracy", action="store_true",
                        help="also time both frameworks to --target test accuracy on Fashion-MNIST (minutes)")
    parser.add_argument("--target", type=float, default=0.92, help="test accuracy to reach (default 0.92)")
    parser.add_argument("--max-epochs", type=int, default=workloads.ACCURACY_EPOCHS,
                        help="the learning-rate schedule's length and the most epochs trained "
                             f"(default {workloads.ACCURACY_EPOCHS})")
    parser.add_argument("--accuracy-batch", type=int, default=workloads.ACCURACY_BATCH,
                        help=f"batch size of the time-to-accuracy recipe (default {workloads.ACCURACY_BATCH}; "
                             "SEEDS 002 used 500)")
    args = parser.parse_args(argv)
    settings = suite.settings_from(args)
    if not 0 < args.target <= 1 or args.max_epochs < 1 or args.accuracy_batch < 1:
        parser.error("--target must be in (0, 1], --max-epochs and --accuracy-batch >= 1")
    fashion = None
    if args.time_to_accuracy:  # read before the minutes of throughput measurements, not after
        from scratchnet.data.errors import DatasetNotFoundError
        try:
            fashion = workloads.load_real(workloads.accuracy_recipe().dataset)
        except DatasetNotFoundError as err:
            parser.error(f"--time-to-accuracy trains on Fashion-MNIST, which is not on this machine: {err}")

    with Servers(settings.keep_environment) as servers:
        report = suite.run_suite([workloads.WORKLOADS[name] for name in args.only], settings, servers)
        if args.time_to_accuracy:
            report["time_to_accuracy"] = suite.run_time_to_accuracy(settings, servers, fashion, args.target,
                                                                     args.max_epochs, args.accuracy_batch)
    tables.print_report(report)
    tables.write_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(tables.run_main(main))
