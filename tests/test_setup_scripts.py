"""scripts/train.sh installs what the main job needs, scripts/test.sh adds the test extras; each
says in one line what it installs the first time. Run against a stand-in .venv whose python
records what pip is asked for (nothing is installed)."""
import os
import shutil
import subprocess
from pathlib import Path

from conftest import REPO

FAKE_PYTHON = """#!/usr/bin/env bash
# Imports fail until pip has "installed" something; pip calls are recorded.
if [ "$1" = "-c" ]; then [ -e "$(dirname "$0")/../installed" ]; exit $?; fi
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then
  echo "${@:3}" >> "$(dirname "$0")/../pip.log"
  case "$*" in *" -e "*) touch "$(dirname "$0")/../installed" ;; esac
  exit 0
fi
exit 1
"""


def setup_checkout(tmp_path: Path) -> Path:
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "venv.sh", checkout / "scripts" / "venv.sh")
    shutil.copy(REPO / "pyproject.toml", checkout / "pyproject.toml")
    bin_dir = checkout / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").write_text(FAKE_PYTHON)
    (bin_dir / "python").chmod(0o755)
    (bin_dir / "activate").write_text('PATH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd):$PATH"\n')
    return checkout


def source_venv(checkout: Path, extras: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", f'set -euo pipefail; EXTRAS="{extras}"; source scripts/venv.sh'],
                          cwd=checkout, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PATH": os.environ["PATH"]})


def test_the_main_job_installs_no_test_extras_and_says_what_it_installs(tmp_path):
    checkout = setup_checkout(tmp_path)
    first = source_venv(checkout, "")
    assert first.returncode == 0, first.stderr
    assert first.stderr.count("\n") == 1 and first.stderr.startswith("scripts: installing scratchnet and what it needs")
    installs = (checkout / ".venv" / "pip.log").read_text().splitlines()
    assert installs[-1] == "install --quiet -e ." and not any("[test]" in line for line in installs)
    again = source_venv(checkout, "")
    assert again.returncode == 0 and again.stderr == ""  # installed: nothing to say


def test_the_test_command_adds_the_test_extras(tmp_path):
    checkout = setup_checkout(tmp_path)
    result = source_venv(checkout, "test")
    assert result.returncode == 0, result.stderr
    assert "with the test extras (PyTorch CPU, scikit-learn, Playwright" in result.stderr
    assert (checkout / ".venv" / "pip.log").read_text().splitlines()[-1] == "install --quiet -e .[test]"


def test_the_scripts_choose_their_extras():
    assert 'EXTRAS=""\nsource scripts/venv.sh' in (REPO / "scripts" / "train.sh").read_text()
    assert 'EXTRAS="test"\nsource scripts/venv.sh' in (REPO / "scripts" / "test.sh").read_text()
