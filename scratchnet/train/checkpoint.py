"""The training checkpoint (``checkpoint.npz``): everything needed to continue a run exactly.

Written atomically at the end of every epoch. Layout (no pickle anywhere):

- ``checkpoint``: uint8 UTF-8 JSON ``{"format": "scratchnet-checkpoint", "format_version": 1,
  "epoch" (epochs completed), "spec" (the model's layers), "history" (rows of history.csv),
  "best_epoch", "best_val_loss", "epochs_without_improvement", "stopped_early", "optimizer",
  "scheduler", "rng"}``;
  ``optimizer`` is the optimizer's ``state_dict`` with each array replaced by
  ``{"__array__": "<name>"}``, ``rng`` the default generator's ``bit_generator.state``;
- ``model/<key>``: the current weights; ``best/<key>``: the weights of the best epoch;
- ``ema/<key>``: the moving average of the weights, when the run keeps one (its number of
  updates is ``"ema_updates"`` in the JSON);
- ``optimizer/<n>``: the optimizer's arrays (moment estimates, momentum buffers).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .npzio import array_to_json, json_to_array, load_npz, save_npz

FORMAT = "scratchnet-checkpoint"
FORMAT_VERSION = 1
META_KEY = "checkpoint"
_EXPECTED = "a scratchnet training checkpoint (checkpoint.npz in a run directory)"


@dataclass
class TrainingState:
    """Where a run stands after ``epoch`` completed epochs (0: before training)."""

    epoch: int
    spec: dict
    model: dict[str, np.ndarray]
    best_model: dict[str, np.ndarray]
    optimizer: dict
    scheduler: dict | None
    rng: dict
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_val_loss: float = float("inf")
    epochs_without_improvement: int = 0
    stopped_early: bool = False
    ema: dict[str, np.ndarray] | None = None
    ema_updates: int = 0


def save_checkpoint(path: str | Path, state: TrainingState) -> None:
    """Write ``state`` to ``path`` atomically."""
    arrays: dict[str, np.ndarray] = {}
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "epoch": state.epoch,
        "spec": state.spec,
        "history": state.history,
        "best_epoch": state.best_epoch,
        "best_val_loss": state.best_val_loss,
        "epochs_without_improvement": state.epochs_without_improvement,
        "stopped_early": state.stopped_early,
        "optimizer": _pack(state.optimizer, arrays, "optimizer/"),
        "scheduler": state.scheduler,
        "rng": state.rng,
        "ema_updates": state.ema_updates,
    }
    arrays.update({f"model/{k}": v for k, v in state.model.items()})
    arrays.update({f"best/{k}": v for k, v in state.best_model.items()})
    arrays.update({f"ema/{k}": v for k, v in (state.ema or {}).items()})
    save_npz(path, {META_KEY: json_to_array(meta), **arrays})


def load_checkpoint(path: str | Path) -> TrainingState:
    """Read a checkpoint written by ``save_checkpoint``, or raise a ValueError saying what the file is."""
    arrays = load_npz(path, _EXPECTED)
    if META_KEY not in arrays:
        raise ValueError(f"{path} is a NumPy archive but not {_EXPECTED}: it has no {META_KEY!r} entry")
    meta = array_to_json(arrays[META_KEY])
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not {_EXPECTED}: its {META_KEY!r} entry does not say format {FORMAT!r}")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(f"{path} was written by a newer scratchnet (checkpoint format {meta['format_version']}, "
                         f"this one reads {FORMAT_VERSION}); upgrade scratchnet to resume it")
    return TrainingState(
        epoch=meta["epoch"],
        spec=meta["spec"],
        model=_prefixed(arrays, "model/"),
        best_model=_prefixed(arrays, "best/"),
        optimizer=_unpack(meta["optimizer"], arrays),
        scheduler=meta["scheduler"],
        rng=meta["rng"],
        history=meta["history"],
        best_epoch=meta["best_epoch"],
        best_val_loss=meta["best_val_loss"],
        epochs_without_improvement=meta["epochs_without_improvement"],
        stopped_early=meta["stopped_early"],
        ema=_prefixed(arrays, "ema/") or None,
        ema_updates=meta.get("ema_updates", 0),
    )


def _prefixed(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {key[len(prefix):]: value for key, value in arrays.items() if key.startswith(prefix)}


def _pack(value, arrays: dict[str, np.ndarray], prefix: str):
    """``value`` as JSON-able data, moving every array (and NumPy scalar, as a 0-d array, so its
    dtype survives) into ``arrays`` under ``prefix<n>``."""
    if isinstance(value, (np.ndarray, np.generic)):
        name = f"{prefix}{len(arrays)}"
        arrays[name] = np.asarray(value)
        return {"__array__": name}
    if isinstance(value, dict):
        return {str(key): _pack(item, arrays, prefix) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_pack(item, arrays, prefix) for item in value]
    return value


def _unpack(value, arrays: dict[str, np.ndarray]):
    """The inverse of ``_pack`` (dict keys come back as strings, tuples as lists, as after any JSON trip)."""
    if isinstance(value, dict):
        if set(value) == {"__array__"}:
            return arrays[value["__array__"]]
        return {key: _unpack(item, arrays) for key, item in value.items()}
    if isinstance(value, list):
        return [_unpack(item, arrays) for item in value]
    return value
