import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/gradcheck.py and other test helpers

REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO.parent / "shared" / "datasets"


def run_python(code: str, **env: str) -> str:
    """The stdout of ``python -c code`` in a fresh process, failing the test if it fails. Its
    environment is this one plus ``env``, without OPENBLAS_THREAD_TIMEOUT unless ``env`` sets
    it (importing scratchnet here may have exported it)."""
    base = {key: value for key, value in os.environ.items() if key != "OPENBLAS_THREAD_TIMEOUT"}
    return subprocess.run([sys.executable, "-c", code], env={**base, **env}, check=True,
                          capture_output=True, text=True).stdout.strip()


def dataset_dir(name: str) -> Path:
    """A local copy of a real dataset, or skip: ../shared/datasets first, then Debian's folder."""
    for base in (SHARED_DATASETS, Path("/usr/share/datasets")):
        if (base / name).is_dir():
            return base / name
    pytest.skip(f"no local copy of {name} in {SHARED_DATASETS} or /usr/share/datasets (tests never download)")


@pytest.fixture
def isolated_data_places(monkeypatch, tmp_path):
    """Only the folders a test names are searched: no SCRATCHNET_DATA, an empty cache, no Debian folder."""
    from scratchnet.data import locate

    monkeypatch.delenv("SCRATCHNET_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(locate, "DEBIAN_DATASETS", tmp_path / "debian")
    monkeypatch.setattr(locate, "WORKSPACE_DATASETS", tmp_path / "workspace")
