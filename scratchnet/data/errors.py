"""The two ways getting a dataset can fail, each with a message that names the fix."""
from __future__ import annotations


class DatasetFileError(ValueError):
    """A dataset file exists but is unusable: corrupt, truncated, wrong format or inconsistent."""


class DatasetNotFoundError(RuntimeError):
    """A dataset is in none of the places searched and could not be downloaded."""


class DownloadError(RuntimeError):
    """A file could not be downloaded intact from any of its mirrors."""
