"""README.md's Python examples outside the tour (the tour has tests/test_readme_tour.py): each
block of the sections named here runs as written, so the README cannot drift from the code."""
import re

import pytest
from conftest import REPO

SECTIONS = ["## Networks with branches"]


def section(title: str) -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index(title)
    return text[start:text.index("\n## ", start + 1)]


@pytest.mark.parametrize("title", SECTIONS)
def test_python_blocks_run_as_written(title, capsys):
    blocks = re.findall(r"```python\n(.*?)```", section(title), re.S)
    assert blocks, f"{title} has no Python example"
    for block in blocks:
        exec(compile(block, f"README.md {title}", "exec"), {})
    printed = capsys.readouterr().out
    expected = re.findall(r"print\(.*?\)\s+# (.+)", "\n".join(blocks))
    for line in expected:  # what a comment beside a print says it prints
        assert line.strip() in printed
