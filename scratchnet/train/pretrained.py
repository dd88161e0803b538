"""``--init-from``: start a model from the weights of another file, matching them key by key.

The weights come from a ``.safetensors`` file (e.g. saved from PyTorch with
``safetensors.torch.save_file(model.state_dict(), path)``), an ``.onnx`` file (its
initializers, named by the exporter: ``scratchnet export`` uses the state_dict keys, and so does
``torch.onnx.export`` unless it folds constants, its default in eval mode, which merges each
BatchNorm into the convolution before it under names like ``onnx::Conv_36``: such a file is
refused with the export call that keeps the layers), or a scratchnet ``.npz`` model file, run directory or ``numpy.savez`` of
a state_dict (read with ``npzio``, the model file's checked reader). The formats' readers live
in ``scratchnet.interop``.

``init_from(model, path, new_head=False)`` copies them into ``model``. Every key the model
has and the file lacks, every key the file has and the model lacks, and every shape that
differs is listed in one error. ``new_head=True`` is the transfer-learning step: when the
last layer's weights do not fit (a different number of classes), that layer keeps its fresh
initialisation and the rest is loaded. BatchNorm's ``num_batches_tracked`` counter may be
absent from a file (ONNX has none); the model keeps its own.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .. import nn
from ..interop.onnx_import import initializers, read_model
from ..interop.safetensors_io import declared_shapes, read_tensors
from .modelfile import STATE_PREFIX
from .npzio import load_npz, npz_shapes

OPTIONAL_KEYS = ("num_batches_tracked",)
SUFFIXES = (".safetensors", ".onnx", ".npz")
NPZ_EXPECTED = "weights: a scratchnet model.npz, or an .npz of a state_dict (numpy.savez)"


class WeightsMismatchError(ValueError):
    """The file's weights do not fit the model; the message lists every mismatch."""


class _Source:
    """A weights file: the shapes it declares (read without the data) and, for chosen keys, the arrays."""

    def __init__(self, path: str | Path):
        path = Path(path)
        if path.is_dir():
            path = path / "model.npz"
        if path.suffix not in SUFFIXES:
            raise ValueError(f"cannot read weights from {path}: expected a {', '.join(SUFFIXES)} file or a run "
                             "directory")
        if not path.is_file():
            raise ValueError(f"weights file {path} does not exist")
        self.path = path
        if path.suffix == ".onnx":
            self._onnx = onnx_weights(read_model(path), str(path))
            self.shapes = {key: value.shape for key, value in self._onnx.items()}
        elif path.suffix == ".safetensors":
            self.shapes = declared_shapes(path)
        else:
            shapes = npz_shapes(path, NPZ_EXPECTED)
            self._prefix = STATE_PREFIX if any(k.startswith(STATE_PREFIX) for k in shapes) else ""
            self.shapes = {k[len(self._prefix):]: v for k, v in shapes.items() if k.startswith(self._prefix)}

    def arrays(self, keys: list[str]) -> dict[str, np.ndarray]:
        if self.path.suffix == ".onnx":
            return {key: self._onnx[key] for key in keys}
        if self.path.suffix == ".safetensors":
            return read_tensors(self.path, keys)
        names = {self._prefix + key: self.shapes[key] for key in keys}
        arrays = load_npz(self.path, NPZ_EXPECTED, names=set(names), shapes=names)
        return {key[len(self._prefix):]: value for key, value in arrays.items()}


def head_keys(model: nn.Module) -> list[str]:
    """The state_dict keys of the last module that has parameters (the classifier of a zoo model)."""
    last = ""
    for name, module in model.named_modules():
        if module._parameters and any(p is not None for p in module._parameters.values()):
            last = name
    return [key for key in model.state_dict() if key.rpartition(".")[0] == last]


def init_from(model: nn.Module, path: str | Path, new_head: bool = False) -> str:
    """Load the weights in ``path`` into ``model``; returns a one-line summary of what was loaded.
    The file's declared shapes are compared with the model's first: an array is read only when its
    key and shape match, so nothing a file declares is allocated before it is checked."""
    source = _Source(path)
    own = {key: value.shape for key, value in model.state_dict().items()}
    skipped = []
    if new_head and any(key in source.shapes and source.shapes[key] != own[key] for key in head_keys(model)):
        skipped = head_keys(model)  # the bias follows the weight: a new head is a whole new layer
    problems = _mismatches(own, source.shapes, skipped)
    folded = exporter_names(source.shapes, own) if source.path.suffix == ".onnx" else []
    if problems and folded:
        raise WeightsMismatchError(folded_message(source.path, folded, [key for key in own if key not in source.shapes
                                                                   and key.rpartition(".")[2] not in OPTIONAL_KEYS]))
    if problems:
        hint = "" if new_head else (" If only the last layer differs (another number of classes), add --new-head to "
                                    "start it afresh.")
        raise WeightsMismatchError(f"the weights in {source.path} do not fit the model ({len(problems)} mismatches):"
                                   "\n  " + "\n  ".join(problems) + "\nIs --model the architecture they were trained "
                                   "with?" + hint)
    loaded = source.arrays([key for key in source.shapes if key in own and key not in skipped])
    for key, value in loaded.items():
        if np.asarray(value).dtype.kind not in "fiub":
            raise WeightsMismatchError(f"{source.path}: {key} holds {np.asarray(value).dtype} values, not numbers")
    model.load_state_dict({**model.state_dict(), **loaded})
    summary = f"initialised {len(loaded)} of {len(own)} tensors from {source.path}"
    return summary + (f"; new head: {', '.join(skipped)} start afresh" if skipped else "")


def onnx_weights(proto, where: str) -> dict[str, np.ndarray]:
    """The initializers of an ONNX model by name (each checked against the bytes it holds), and the names
    torch's exporter makes aliases of them with an Identity node: without constant folding it stores equal
    tensors once, e.g. a fresh BatchNorm's ``running_var = Identity(weight)`` (both all ones)."""
    weights = initializers(proto, where)
    for node in proto.graph.node:
        if node.op_type == "Identity" and node.input[0] in weights and node.output[0] not in weights:
            weights[node.output[0]] = weights[node.input[0]]
    return weights


_EXPORTER_NAME = re.compile(r"::|^/")  # torch.onnx.export's own names: onnx::Conv_36, /0/Constant_output_0


def exporter_names(declared: dict, own: dict) -> list[str]:
    """The file's weight names that are an exporter's (not state_dict keys) where the model has no such key:
    the mark of constant folding, e.g. BatchNorm folded into the convolution before it."""
    return [key for key in declared if key not in own and _EXPORTER_NAME.search(key)]


def folded_message(path: Path, folded: list[str], missing: list[str]) -> str:
    """Why an ONNX file with folded weights cannot start the model, and how to export one that can."""
    shown = ", ".join(folded[:4]) + (f" and {len(folded) - 4} more" if len(folded) > 4 else "")
    lost = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
    return (f"the weights in {path} were changed by the exporter, not saved: {len(folded)} of them have exporter-made "
            f"names ({shown}) instead of state_dict keys, and the model's {lost} are not in the file. That is "
            "torch.onnx.export's constant folding in eval mode, which merges each BatchNorm into the convolution "
            "before it; those merged weights are not the layers' weights, so they cannot be copied layer by layer "
            "(--new-head does not help). Export the torch model again keeping its layers and state_dict names:\n"
            "  torch.onnx.export(model.eval(), x, path, dynamo=False, training=torch.onnx.TrainingMode.PRESERVE)\n"
            "(or do_constant_folding=False, or save the weights with "
            "safetensors.torch.save_file(model.state_dict(), 'weights.safetensors')) and give that file to "
            "--init-from. The folded file itself still evaluates and predicts: scratchnet evaluate/predict FILE "
            "--dataset NAME")


def _mismatches(own: dict, declared: dict, skipped: list[str]) -> list[str]:
    problems = []
    for key, shape in own.items():
        if key in skipped or (key not in declared and key.rpartition(".")[2] in OPTIONAL_KEYS):
            continue
        if key not in declared:
            problems.append(f"missing from the file: {key} (the model's is {tuple(shape)})")
        elif tuple(declared[key]) != tuple(shape):
            problems.append(f"shape of {key}: {tuple(declared[key])} in the file, {tuple(shape)} in the model")
    problems += [f"not in the model: {key} {tuple(shape)}" for key, shape in declared.items() if key not in own]
    return problems
