"""Every parser of user files fuzzed with Hypothesis (tests/fuzz_targets.py), each target in a
subprocess whose address space may grow by at most 400 MB beyond scratchnet's imports: each file
loads or raises scratchnet's own error, never another exception, a hang or a memory blow-up."""
from pathlib import Path

import pytest

from builders import run_bounded

pytest.importorskip("hypothesis", reason="the fuzz tests need Hypothesis (a test dependency: pip install -e .[test])")

RUN_TARGET = f"""
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
import fuzz_targets
fuzz_targets.TARGETS[sys.argv[1]]()
print("fuzzed", sys.argv[1])
"""


@pytest.mark.parametrize("target", ["idx", "cifar", "model", "checkpoint", "spec", "image"])
def test_parser_loads_or_raises_its_own_error_under_a_memory_cap(target):
    result = run_bounded(RUN_TARGET, budget_mb=400, timeout=240, args=(target,))
    assert result.returncode == 0 and f"fuzzed {target}" in result.stdout, result.stderr[-4000:]
