"""Where a dataset's files are looked for, in order, and which place was used.

1. an explicit ``root`` (the folder itself, then ``root/<name>``);
2. ``$SCRATCHNET_DATA/<name>``;
3. the user cache, ``$XDG_CACHE_HOME/scratchnet/<name>`` (default ``~/.cache``), where downloads go;
4. ``/usr/share/datasets/<name>``, where Debian's dataset packages (e.g. ``dataset-fashion-mnist``) install;
5. ``../shared/datasets/<name>`` beside the checkout scratchnet runs from (the project's
   workspace keeps its offline copies there), so the README's tour works as written in a
   fresh shell without setting anything; on any other machine that folder does not exist.

A folder counts only if it holds every file of the dataset (under its published name or
one of its ``local_names``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .registry import DatasetInfo, RemoteFile

DEBIAN_DATASETS = Path("/usr/share/datasets")
WORKSPACE_DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"  # <checkout>/../shared/datasets


@dataclass(frozen=True)
class Location:
    """A folder holding a dataset: where it is, why it was searched, and each file's path."""

    folder: Path
    origin: str
    files: tuple[Path, ...]

    def describe(self) -> str:
        return f"{self.folder} ({self.origin})"


def cache_dir(name: str) -> Path:
    """The user cache folder for a dataset: downloads are stored here."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "scratchnet" / name


def candidates(name: str, root: str | Path | None = None) -> list[tuple[Path, str]]:
    """Every folder searched for ``name``, in order, with a few words on why it is searched."""
    places = []
    if root is not None:
        places += [(Path(root), "root argument"), (Path(root) / name, "root argument")]
    if os.environ.get("SCRATCHNET_DATA"):
        places.append((Path(os.environ["SCRATCHNET_DATA"]) / name, "$SCRATCHNET_DATA"))
    places.append((cache_dir(name), "user cache"))
    places.append((DEBIAN_DATASETS / name, "Debian dataset package"))
    places.append((WORKSPACE_DATASETS / name, "workspace datasets beside the checkout"))
    return places


def local_file(folder: Path, remote: RemoteFile) -> Path | None:
    """The file in ``folder`` under its published name or one of its local names, if any."""
    for name in (remote.name, *remote.local_names):
        if (folder / name).exists():
            return folder / name
    return None


def find(info: DatasetInfo, root: str | Path | None = None) -> tuple[Location | None, list[str]]:
    """The first folder holding the whole dataset, and a line per place looked at (for errors)."""
    looked = []
    for folder, origin in candidates(info.name, root):
        if not folder.is_dir():
            looked.append(f"{folder} ({origin}): no such folder")
            continue
        files = [local_file(folder, remote) for remote in info.files]
        missing = [remote.name for remote, path in zip(info.files, files) if path is None]
        if not missing:
            return Location(folder.resolve(), origin, tuple(files)), looked
        looked.append(f"{folder} ({origin}): missing {', '.join(missing)}")
    return None, looked
