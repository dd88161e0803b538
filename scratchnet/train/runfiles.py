"""The names of a run directory's files, and one way to read its text files.

``fit`` writes ``config.json``, ``history.csv`` and ``metrics.json`` (see ``trainer``); the
evaluation, the report and the experiments read them back through these functions, so a
missing or damaged file always gets the same clear error.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

CONFIG, HISTORY, METRICS = "config.json", "history.csv", "metrics.json"
CHECKPOINT, MODEL, PREDICTIONS = "checkpoint.npz", "model.npz", "test_predictions.npz"


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
