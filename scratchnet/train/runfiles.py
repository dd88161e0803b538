"""The run directory: its file names, claiming it, and reading and writing its files.

A run directory (``scratchnet train --out DIR``) holds:

- ``config.json``: the run's ``TrainConfig``;  ``history.csv``: one row per epoch;
- ``checkpoint.npz``: the state after the last finished epoch (``scratchnet.train.checkpoint``);
- ``model.npz``: the final model (``scratchnet.train.modelfile``);
- ``test_predictions.npz``: y_true, y_pred, probabilities and index;
- ``metrics.json``: the test metrics, written LAST: a run is finished when it exists;
- ``report.html`` and its figures (``scratchnet.report``);
- ``.scratchnet.lock``: held (``flock``) by the one process training into the directory.

Every file is written through ``atomic_file``: a new file beside the target, fsync'ed, then
renamed over it, so a crash, Ctrl-C or a full disk leaves either the old file or the new
one, never half of one, and a symlink planted in place of a run file is replaced, never
followed. Reading goes through ``read_json``, ``read_history`` and ``read_run``, so a
missing or damaged file always gets the same clear error.
"""
from __future__ import annotations

import contextlib
import csv
import errno
import json
import os
import secrets
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import ConfigError

CONFIG, HISTORY, METRICS = "config.json", "history.csv", "metrics.json"
CHECKPOINT, MODEL, PREDICTIONS = "checkpoint.npz", "model.npz", "test_predictions.npz"
REPORT, LOCK = "report.html", ".scratchnet.lock"


class DiskFullError(OSError):
    """Writing a run file failed for lack of space; the previous version of the file is kept."""


class RunBusyError(ConfigError):
    """Another process is training into the same run directory."""


def is_finished(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` holds a finished run (its metrics.json, written last, exists)."""
    return (Path(run_dir) / METRICS).is_file()


# -- claiming a run directory ------------------------------------------------------------------------------------
@contextlib.contextmanager
def claim(run_dir: str | Path):
    """Hold ``run_dir`` exclusively for the block: a second process claiming it meanwhile gets
    RunBusyError at once. The lock is an ``flock`` on ``run_dir/.scratchnet.lock``, so the
    kernel drops it when its process ends in any way (even ``kill -9``): no stale locks. A
    directory the claim created is removed again when the block leaves nothing else in it."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"{run_dir} is a file; give a directory for the run (it is created if missing)")
    created = not run_dir.exists()
    fd = _lock(run_dir)
    try:
        yield run_dir
    finally:
        if created and os.listdir(run_dir) == [LOCK]:
            os.unlink(run_dir / LOCK)
            run_dir.rmdir()
        os.close(fd)  # releases the flock


def _lock(run_dir: Path) -> int:
    """An fd holding the flock of ``run_dir``'s lock file (the file at that path, not one unlinked meanwhile)."""
    import fcntl  # POSIX only, like the rest of the run-directory handling

    while True:
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(run_dir / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
        except OSError as err:
            raise ConfigError(f"cannot write into {run_dir} ({err.strerror}); choose an output directory "
                              "this user can write to") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise RunBusyError(f"{run_dir} is in use by {holder}, which is training into it; wait for it to "
                               "finish or choose another output directory") from None
        with contextlib.suppress(FileNotFoundError):
            if os.stat(run_dir / LOCK, follow_symlinks=False).st_ino == os.fstat(fd).st_ino:
                with contextlib.suppress(OSError):  # who holds it, for the message above: best effort
                    os.ftruncate(fd, 0)
                    os.pwrite(fd, f"process {os.getpid()} on {os.uname().nodename}\n".encode(), 0)
                return fd
        os.close(fd)  # the holder removed the file before we locked it: lock the new one


# -- writing -------------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def atomic_file(path: str | Path, mode: str = "wb", **open_args):
    """Write to a new file beside ``path`` that replaces it, fsync'ed, only when the block succeeds.

    The temporary file is created with O_EXCL | O_NOFOLLOW and mode 0o666 (the kernel applies
    the umask), and ``os.replace`` swaps a symlink at ``path`` for the file instead of writing
    through it. A full disk raises DiskFullError naming the file, with the old file kept.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    try:
        with os.fdopen(fd, mode, **open_args) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFullError(err.errno, f"no space left on the device to write {path} "
                                           f"({'the previous file is kept' if path.exists() else 'nothing written'});"
                                " free some space and run the command again") from None
        raise
    _fsync_directory(path.parent)


def _fsync_directory(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: some filesystems refuse)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_file(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)


def write_json(path: str | Path, value) -> None:
    write_text_atomic(path, json.dumps(value, indent=2) + "\n")


# -- reading -------------------------------------------------------------------------------------------------------
def require(path: Path) -> None:
    if not path.is_file():
        raise ValueError(f"{path} is missing; is {path.parent} a finished training run? "
                         f"(`scratchnet evaluate {path.parent}` rewrites metrics and predictions)")


def read_json(path: str | Path) -> dict:
    """config.json or metrics.json as a dict; ValueError naming the file when missing or not JSON."""
    path = Path(path)
    require(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err})") from None


def read_history(path: str | Path) -> list[dict[str, float]]:
    """history.csv as one dict of floats per epoch; empty cells (no validation split) are NaN."""
    path = Path(path)
    require(path)
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows or "epoch" not in rows[0]:
        raise ValueError(f"{path} has no epochs (expected a header with 'epoch' and one row per epoch)")
    try:
        return [{key: float(value) if value not in ("", None) else float("nan") for key, value in row.items()}
                for row in rows]
    except ValueError as err:
        raise ValueError(f"{path} holds a value that is not a number ({err})") from None


@dataclass(frozen=True)
class RunFiles:
    """The contents of a finished run directory, as the report reads them.

    ``history`` maps each column of history.csv to a float array (NaN where empty);
    ``y_true``/``y_pred`` are (N,) class indices, ``probabilities`` (N, classes) and
    ``test_index`` (N,) each prediction's position in the dataset's test set.
    """

    run_dir: Path
    config: dict
    history: dict[str, np.ndarray]
    metrics: dict
    y_true: np.ndarray
    y_pred: np.ndarray
    probabilities: np.ndarray
    test_index: np.ndarray

    @property
    def model_path(self) -> Path:
        return self.run_dir / MODEL


def read_run(run_dir: str | Path) -> RunFiles:
    """Read a run directory; a missing or unreadable file raises a ValueError naming it."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"{run_dir} is not a directory; pass the run directory that `scratchnet train --out` wrote")
    config = read_json(run_dir / CONFIG)
    metrics = read_json(run_dir / METRICS)
    rows = read_history(run_dir / HISTORY)
    history = {column: np.array([row[column] for row in rows]) for column in rows[0]}
    return RunFiles(run_dir, config, history, metrics, *read_predictions(run_dir / PREDICTIONS))


def read_predictions(path: Path) -> tuple[np.ndarray, ...]:
    """y_true, y_pred, probabilities and index from test_predictions.npz."""
    require(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            return tuple(data[key] for key in ("y_true", "y_pred", "probabilities", "index"))
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path} is not a predictions file with y_true, y_pred, probabilities and index "
                         f"({err}); `scratchnet evaluate {path.parent}` rewrites it") from None
