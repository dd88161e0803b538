"""Reading the files a training run leaves in its directory, for the report.

A run directory holds ``config.json``, ``history.csv``, ``metrics.json``,
``test_predictions.npz`` and the model file ``model.npz`` (see ``scratchnet.train``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..train.runfiles import CONFIG, HISTORY, METRICS, MODEL, PREDICTIONS, read_history, read_json, require


@dataclass(frozen=True)
class RunFiles:
    """The contents of a run directory.

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
    history = _read_history(run_dir / HISTORY)
    return RunFiles(run_dir, config, history, metrics, *_read_predictions(run_dir / PREDICTIONS))


def _read_history(path: Path) -> dict[str, np.ndarray]:
    """history.csv -> {column: float array}; empty cells become NaN."""
    rows = read_history(path)
    return {column: np.array([row[column] for row in rows]) for column in rows[0]}


def _read_predictions(path: Path) -> tuple[np.ndarray, ...]:
    """y_true, y_pred, probabilities and index from test_predictions.npz."""
    require(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            return tuple(data[key] for key in ("y_true", "y_pred", "probabilities", "index"))
    except (OSError, KeyError, ValueError) as err:
        raise ValueError(f"{path} is not a predictions file with y_true, y_pred, probabilities and index "
                         f"({err}); `scratchnet evaluate {path.parent}` rewrites it") from None
