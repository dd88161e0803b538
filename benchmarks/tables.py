"""Printing a suite's results: the machine, the throughput table, the time-to-accuracy table, JSON."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

from runners import FRAMEWORK_LABELS

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


def _ratio(a, b) -> str:
    return _fmt(a / b if a and b else None, ".2f")


def _spread(ratios: list[float]) -> str:
    return f"{min(ratios):.2f}–{max(ratios):.2f}" if ratios else "–"


def throughput_table(report: dict) -> str:
    """The results as a Markdown table (readable as plain text too). "ratio" is best round against
    best round; "per round" is the spread of the ratios of rounds measured back to back."""
    header = ["workload", "data", "scratchnet samples/s", "PyTorch samples/s", "ratio", "per round",
              "PyTorch + mallopt samples/s", "ratio vs + mallopt", "sklearn samples/s", "ratio vs sklearn",
              "peak RSS scratchnet MiB", "peak RSS PyTorch MiB", "GEMM peak % scratchnet", "GEMM peak % PyTorch"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in report["rows"]:
        res = row["results"]
        sn, pt, pm, sk = (res.get(name, {}) for name in ("scratchnet", "torch", "torch-mallopt", "sklearn"))
        rate = {name: r.get("samples_per_s") for name, r in (("sn", sn), ("pt", pt), ("pm", pm), ("sk", sk))}
        per_round = row.get("ratio_per_round", {})
        cells = [
            row["title"], row["data"], _fmt(rate["sn"], ",.0f"), _fmt(rate["pt"], ",.0f"),
            _ratio(rate["sn"], rate["pt"]), _spread(per_round.get("torch", [])),
            _fmt(rate["pm"], ",.0f"), _ratio(rate["sn"], rate["pm"]),
            _fmt(rate["sk"], ",.0f"), _ratio(rate["sn"], rate["sk"]),
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
    kernels = ", ".join(report.get("blas_architecture", [])) or "unknown"
    return (f"{report['date']} on {report['machine']}\n"
            f"threads: {report['threads']}; {mode}\n"
            f"NumPy's OpenBLAS ran its {kernels} kernels ({report.get('environment', '')}); "
            f"sgemm peak measured after each measurement: {low:.1f} to {high:.1f} GFLOP/s")


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
