"""The two ways getting a dataset can fail, each with a message that names the fix."""
from __future__ import annotations

from pathlib import Path


class DatasetFileError(ValueError):
    """A dataset file exists but is unusable: corrupt, truncated, wrong format or inconsistent."""


class DatasetNotFoundError(RuntimeError):
    """A dataset is in none of the places searched and could not be downloaded."""


class DownloadError(RuntimeError):
    """A file could not be downloaded intact from any of its mirrors."""


def file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as a file ("does not exist", "is not a regular file ..."), or
    None. Readers check this first: a folder would raise IsADirectoryError, a pipe would block
    forever and a link to /dev/zero would never end."""
    if not path.exists():
        return "does not exist"
    if not path.is_file():
        return "is not a regular file (a folder, pipe or device)"
    return None
