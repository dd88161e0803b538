"""Smoke test of benchmarks/grouped_conv.py at tiny sizes: it runs and prints one row per group count
(the figures mean nothing at this size; the test never checks speed)."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "grouped_conv.py"


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="the benchmark compares with PyTorch")
def test_grouped_conv_benchmark_quick_prints_a_row_per_group_count():
    out = subprocess.run([sys.executable, str(SCRIPT), "--quick"], check=True, capture_output=True, text=True).stdout
    lines = out.strip().splitlines()
    assert lines[0].startswith("Conv2d(8, 8, 3, padding=1, groups=G)")
    assert lines[1].split() == ["G", "grouped", "ms", "dense", "ms", "ratio", "GFLOP/s", "torch", "ms"]
    assert [int(line.split()[0]) for line in lines[2:]] == [1, 2, 4, 8]
    assert all(len(line.split()) == 6 and float(line.split()[3]) > 0 for line in lines[2:])
