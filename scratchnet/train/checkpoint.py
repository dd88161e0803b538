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

from ..spec import validate_spec
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
    """Read a checkpoint written by ``save_checkpoint``, or raise a ValueError saying what the
    file is or which part of it is corrupt (every entry is checked for its type here; the
    weights' shapes are checked where they are loaded into a model)."""
    arrays = load_npz(path, _EXPECTED)
    if META_KEY not in arrays:
        raise ValueError(f"{path} is a NumPy archive but not {_EXPECTED}: it has no {META_KEY!r} entry")
    try:
        meta = array_to_json(arrays[META_KEY])
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise ValueError(f"{path} is corrupted: its {META_KEY!r} entry is not JSON ({type(err).__name__})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not {_EXPECTED}: its {META_KEY!r} entry does not say format {FORMAT!r}")
    version = meta.get("format_version", 0)
    if not _is_int(version):
        raise ValueError(f"{path} is corrupted: its checkpoint format version is {version!r}, not a number")
    if version > FORMAT_VERSION:
        raise ValueError(f"{path} was written by a newer scratchnet (checkpoint format {meta['format_version']}, "
                         f"this one reads {FORMAT_VERSION}); upgrade scratchnet to resume it")
    _check_fields(path, meta)
    try:
        optimizer = _unpack(meta["optimizer"], arrays)
    except KeyError as err:
        raise ValueError(f"{path} is corrupted: the optimizer's array {err} is missing") from None
    model, best = _prefixed(arrays, "model/"), _prefixed(arrays, "best/")
    if not model or set(best) != set(model):
        raise ValueError(f"{path} is corrupted: its model weights ({len(model)} arrays) and best weights "
                         f"({len(best)} arrays) are missing or do not match")
    ema = _prefixed(arrays, "ema/") or None
    for name, weights in (("best", best), ("averaged", ema or model)):
        if set(weights) != set(model):
            raise ValueError(f"{path} is corrupted: its {name} weights name other arrays than its model weights")
        odd = [key for key in model if weights[key].shape != model[key].shape]
        if odd:
            raise ValueError(f"{path} is corrupted: its {name} weights {odd[0]} have shape {weights[odd[0]].shape}, "
                             f"its current ones {model[odd[0]].shape}")
    return TrainingState(
        epoch=meta["epoch"],
        spec=meta["spec"],
        model=model,
        best_model=best,
        optimizer=optimizer,
        scheduler=meta["scheduler"],
        rng=meta["rng"],
        history=meta["history"],
        best_epoch=meta["best_epoch"],
        best_val_loss=float(meta["best_val_loss"]),
        epochs_without_improvement=meta["epochs_without_improvement"],
        stopped_early=meta["stopped_early"],
        ema=ema,
        ema_updates=meta.get("ema_updates", 0),
    )


def _is_spec(value) -> bool:
    try:
        validate_spec(value)
    except (ValueError, TypeError, KeyError):
        return False
    return True


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_FIELDS = {  # entry -> (test, what it must be)
    "epoch": (lambda v: _is_int(v) and v >= 0, "a whole number of epochs, 0 or more"),
    "spec": (lambda v: _is_spec(v), 'a model spec ({"layers": [...]} or a tree, see scratchnet.spec)'),
    "history": (lambda v: isinstance(v, list) and all(isinstance(row, dict) for row in v), "a list of rows"),
    "best_epoch": (lambda v: _is_int(v) and v >= 0, "a whole number, 0 or more"),
    "best_val_loss": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number"),
    "epochs_without_improvement": (lambda v: _is_int(v) and v >= 0, "a whole number, 0 or more"),
    "stopped_early": (lambda v: isinstance(v, bool), "true or false"),
    "optimizer": (lambda v: isinstance(v, dict), "the optimizer's state"),
    "scheduler": (lambda v: v is None or isinstance(v, dict), "the schedule's state or null"),
    "rng": (lambda v: isinstance(v, dict), "the random generator's state"),
}


def _check_fields(path, meta: dict) -> None:
    """ValueError naming the first entry of the checkpoint's metadata that is missing or of the wrong type."""
    for key, (test, what) in _FIELDS.items():
        if key not in meta:
            raise ValueError(f"{path} is corrupted: its metadata lacks {key!r}; resume from a good copy or train anew")
        if not test(meta[key]):
            raise ValueError(f"{path} is corrupted: {key} is {str(meta[key])[:80]!r}, expected {what}; "
                             "resume from a good copy or train anew")
    updates = meta.get("ema_updates", 0)
    if not (_is_int(updates) and updates >= 0):
        raise ValueError(f"{path} is corrupted: ema_updates is {str(updates)[:80]!r}, expected a whole number")
    if meta["best_epoch"] > meta["epoch"]:
        raise ValueError(f"{path} is corrupted: best epoch {meta['best_epoch']} is after epoch {meta['epoch']}")


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
            return arrays[str(value["__array__"])]
        return {key: _unpack(item, arrays) for key, item in value.items()}
    if isinstance(value, list):
        return [_unpack(item, arrays) for item in value]
    return value
