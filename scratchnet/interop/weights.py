"""``--init-from``: start a model from the weights of another file, matching them key by key.

``read_state(path)`` reads a ``state_dict`` from a ``.safetensors`` file (e.g. saved from
PyTorch with ``safetensors.torch.save_file(model.state_dict(), path)``), an ``.onnx`` file
(its initializers, named by the exporter: ``scratchnet export`` and ``torch.onnx.export``
both use the state_dict keys) or a scratchnet ``.npz`` model file (or run directory).

``init_from(model, path, new_head=False)`` copies them into ``model``. Every key the model
has and the file lacks, every key the file has and the model lacks, and every shape that
differs is listed in one error. ``new_head=True`` is the transfer-learning step: when the
last layer's weights do not fit (a different number of classes), that layer keeps its fresh
initialisation and the rest is loaded. BatchNorm's ``num_batches_tracked`` counter may be
absent from a file (ONNX has none); the model keeps its own.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import nn

OPTIONAL_KEYS = ("num_batches_tracked",)
SUFFIXES = (".safetensors", ".onnx", ".npz")
MODEL_STATE_PREFIX = "state/"  # where a scratchnet model file (model.npz) keeps the state_dict


class WeightsMismatchError(ValueError):
    """The file's weights do not fit the model; the message lists every mismatch."""


def read_state(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of ``path`` by state_dict key (see the module docstring for the formats)."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.npz"
    if path.suffix not in SUFFIXES:
        raise ValueError(f"cannot read weights from {path}: expected a {', '.join(SUFFIXES)} file or a run directory")
    if not path.is_file():
        raise ValueError(f"weights file {path} does not exist")
    if path.suffix == ".safetensors":
        from .safetensors_io import read
        return read(path)[0]
    if path.suffix == ".onnx":
        from .onnx_import import initializers, read_model
        return initializers(read_model(path), str(path))
    return _read_npz(path)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """A scratchnet model file's ``state/`` arrays, or every array of a plain ``.npz`` (np.savez of a state_dict)."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError) as err:
        raise ValueError(f"{path} is not a readable NumPy .npz archive (pickled objects are refused): {err}") from None
    if any(key.startswith(MODEL_STATE_PREFIX) for key in arrays):
        return {key[len(MODEL_STATE_PREFIX):]: value for key, value in arrays.items()
                if key.startswith(MODEL_STATE_PREFIX)}
    return arrays


def head_keys(model: nn.Module) -> list[str]:
    """The state_dict keys of the last module that has parameters (the classifier of a zoo model)."""
    last = ""
    for name, module in model.named_modules():
        if module._parameters and any(p is not None for p in module._parameters.values()):
            last = name
    return [key for key in model.state_dict() if key.rpartition(".")[0] == last]


def init_from(model: nn.Module, path: str | Path, new_head: bool = False) -> str:
    """Load the weights in ``path`` into ``model``; returns a one-line summary of what was loaded."""
    state = read_state(path)
    own = model.state_dict()
    skipped = []
    if new_head:
        skipped = [key for key in head_keys(model) if key in state and np.shape(state[key]) != own[key].shape]
        if skipped:  # the bias follows the weight: a new head is a whole new layer
            skipped = head_keys(model)
    problems = _mismatches(own, state, skipped)
    if problems:
        hint = "" if new_head else (" If only the last layer differs (another number of classes), add --new-head to "
                                    "start it afresh.")
        raise WeightsMismatchError(f"the weights in {path} do not fit the model ({len(problems)} mismatches):\n  "
                                   + "\n  ".join(problems) + "\nIs --model the architecture they were trained "
                                   "with?" + hint)
    loaded = {key: value for key, value in state.items() if key in own and key not in skipped}
    model.load_state_dict({**own, **loaded})
    summary = f"initialised {len(loaded)} of {len(own)} tensors from {path}"
    return summary + (f"; new head: {', '.join(skipped)} start afresh" if skipped else "")


def _mismatches(own: dict, state: dict, skipped: list[str]) -> list[str]:
    problems = []
    for key, value in own.items():
        if key in skipped or (key not in state and key.rpartition(".")[2] in OPTIONAL_KEYS):
            continue
        if key not in state:
            problems.append(f"missing from the file: {key} (the model's is {tuple(value.shape)})")
        elif np.shape(state[key]) != value.shape:
            problems.append(f"shape of {key}: {tuple(np.shape(state[key]))} in the file, "
                            f"{tuple(value.shape)} in the model")
        elif np.asarray(state[key]).dtype.kind not in "fiu":
            problems.append(f"{key} holds {np.asarray(state[key]).dtype} values, not numbers")
    problems += [f"not in the model: {key} {tuple(np.shape(state[key]))}" for key in state if key not in own]
    return problems
