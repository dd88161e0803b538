"""The model file (``model.npz``): a trained network and everything needed to use it.

Layout (read with ``numpy.load(path, allow_pickle=False)``):

- ``scratchnet_model``: uint8 UTF-8 JSON ``{"format": "scratchnet-model", "format_version": 1,
  "scratchnet_version", "spec", "preprocess", "classes", "input_shape", "dataset", "extra"}``
  where ``spec`` is the model spec (``scratchnet.spec``: a flat layer list or a tree) and
  ``preprocess`` is ``scratchnet.data.Preprocess.to_dict()``;
- ``state/<key>``: the model's ``state_dict`` arrays under ``torch.nn``'s keys.

Format version 1 holds a flat layer list; version 2 (written only when needed) a spec tree
with containers, branch blocks or user-written classes, which older readers cannot build.
A user-written Module class is stored as its class path and constructor arguments, never
as code: ``load_model(path, classes=[MyNet])`` needs the class itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from .. import data, nn
from ..version import __version__
from ..data import Preprocess, registry
from ..spec import build_model, check_fits, is_flat, output_layer_type, spec_of, validate_spec
from .npzio import array_to_json, json_to_array, load_npz, npz_names, save_npz
from .runfiles import MODEL

FORMAT = "scratchnet-model"
FORMAT_VERSION = 2  # the newest this version reads and writes; flat specs are still written as 1
META_KEY = "scratchnet_model"
STATE_PREFIX = "state/"
_EXPECTED = "a scratchnet model file (the model.npz of a run directory, written by `scratchnet train`)"


def save_model(path: str | Path, model: nn.Module, spec: dict | None, preprocess: Preprocess, classes: list[str],
               input_shape: tuple[int, int, int], dataset: str, extra: dict | None = None) -> None:
    """Write ``model`` with its spec, preprocessing and labels to ``path`` atomically.

    ``spec=None`` writes ``scratchnet.spec.spec_of(model)``, for a model built in Python.
    """
    spec = spec_of(model) if spec is None else spec
    meta = _metadata(spec, preprocess, classes, input_shape, dataset, extra, __version__)
    arrays = {STATE_PREFIX + key: value for key, value in model.state_dict().items()}
    save_npz(path, {META_KEY: json_to_array(meta), **arrays})


def _metadata(spec: dict, preprocess: Preprocess, classes: list[str], input_shape: tuple[int, int, int],
              dataset: str, extra: dict | None, version: str) -> dict:
    return {"format": FORMAT, "format_version": 1 if is_flat(spec) else FORMAT_VERSION, "scratchnet_version": version,
            "spec": spec,
            "preprocess": preprocess.to_dict(), "classes": list(classes), "input_shape": list(input_shape),
            "dataset": dataset, "extra": extra or {}}


@dataclass
class LoadedModel:
    """A model read from a model file, in eval mode, with what it needs to classify raw images.

    ``predict_proba`` turns uint8 images into class probabilities: the network's outputs go
    through softmax, except after a final Sigmoid (cnet-style MSE models), whose outputs are
    divided by their sum so each row adds up to 1, and a final Softmax, kept as is.
    """

    model: nn.Module
    spec: dict
    preprocess: Preprocess
    classes: list[str]
    input_shape: tuple[int, int, int]
    dataset: str
    extra: dict
    scratchnet_version: str

    def metadata(self) -> dict:
        """The model file's metadata of this model (what ``scratchnet export`` stores beside the weights)."""
        return _metadata(self.spec, self.preprocess, self.classes, self.input_shape, self.dataset, self.extra,
                         self.scratchnet_version)

    def predict_proba(self, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
        """(N, C, H, W) uint8 images -> (N, num_classes) float32 probabilities."""
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[1:] != self.input_shape or len(images) == 0:
            raise ValueError(f"this model takes images of shape (N>=1, {', '.join(map(str, self.input_shape))}) "
                             f"({self.dataset}), got {images.shape}")
        outputs = [self.model(self.preprocess(images[i:i + batch_size])) for i in range(0, len(images), batch_size)]
        return outputs_to_probabilities(self.spec, np.concatenate(outputs))


def outputs_to_probabilities(spec: dict, outputs: np.ndarray) -> np.ndarray:
    """Class probabilities from a model's raw outputs, by the model's last layer (see LoadedModel)."""
    last = output_layer_type(spec)
    if last == "Softmax":
        return outputs.astype(np.float32)
    if last == "Sigmoid":
        total = outputs.sum(axis=1, keepdims=True)
        uniform = np.full(outputs.shape, 1 / outputs.shape[1], dtype=np.float32)
        return np.divide(outputs, total, out=uniform, where=total > 0, casting="unsafe")
    shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
    return (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)


def load_model(path: str | Path, classes: Iterable[type] = (), dataset: str | None = None,
               normalize: str | None = None, root: str | None = None) -> LoadedModel:
    """Read a model file written by ``save_model``, a run directory's ``model.npz``, or an ``.onnx``
    file; anything else raises a ValueError saying what it is. ``classes``: the user-written Module
    classes the model contains (the file names them, and says so when one is missing).

    An ``.onnx`` file written by ``scratchnet export`` says its classes and preprocessing in its
    metadata; one from another exporter (``torch.onnx.export``) has none, and is read by
    ``load_foreign_onnx`` with ``dataset`` (required), ``normalize`` and ``root``. Those three are
    refused for a file that has its own metadata, which they would contradict.
    """
    path = Path(path)
    if path.is_dir():
        path = path / MODEL
    if path.suffix == ".onnx":
        from ..interop.onnx_import import load_with_metadata, read_model
        if not has_scratchnet_metadata(read_model(path)):
            return load_foreign_onnx(path, dataset, normalize, root)
    if normalize is not None:
        raise ValueError(f"{path} is a scratchnet model, which says its own preprocessing; --normalize is for ONNX "
                         "files without scratchnet metadata (e.g. from torch.onnx.export)")
    if path.suffix == ".onnx":  # exported by `scratchnet export`: the graph runs, the metadata says the rest
        graph, meta = load_with_metadata(path)
        return _loaded(graph, _read_meta(path, json_to_array(meta)))
    arrays = load_npz(path, _EXPECTED, names={META_KEY})
    if META_KEY not in arrays:
        raise ValueError(f"{path} is a NumPy archive but not {_EXPECTED}: it has no {META_KEY!r} entry "
                         f"(it holds {', '.join(sorted(npz_names(path))[:5]) or 'nothing'})")
    meta = _read_meta(path, arrays[META_KEY])
    try:
        with nn.init.skip_init():  # the weights come from the file: no float64 draws, no pages touched
            model = build_model(meta["spec"], classes=classes)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    except MemoryError:
        raise ValueError(f"{path}: its model is larger than the memory free on this computer") from None
    try:
        shapes = {STATE_PREFIX + key: value.shape for key, value in (*model.named_parameters(), *model.named_buffers())}
        arrays = load_npz(path, _EXPECTED, shapes=shapes)  # each entry checked against the spec before reading
        state = {key[len(STATE_PREFIX):]: value for key, value in arrays.items() if key.startswith(STATE_PREFIX)}
        model.load_state_dict(state)
    except (KeyError, ValueError) as err:
        raise ValueError(f"{path} is corrupted: its weights do not match its architecture ({err})") from None
    except MemoryError:
        raise ValueError(f"{path}: its model is larger than the memory free on this computer") from None
    return _loaded(model, meta)


def has_scratchnet_metadata(proto) -> bool:
    """Whether an ``onnx.ModelProto`` holds the metadata ``scratchnet export`` writes."""
    return any(p.key == META_KEY for p in proto.metadata_props)


FOREIGN_DEFAULT_NORMALIZE = "scale"  # torchvision's ToTensor(): pixels / 255


def load_foreign_onnx(path: str | Path, dataset: str | None, normalize: str | None = None,
                      root: str | None = None) -> LoadedModel:
    """An ONNX model without scratchnet metadata (e.g. from ``torch.onnx.export``) as a LoadedModel.

    The classes are those of ``dataset`` (required: the file does not name them), the input
    shape is the graph's input (C, H, W) where the file fixes it, else the dataset's images,
    and the preprocessing is ``normalize``: ``"scale"`` (the default, x/255 as torchvision's
    ``ToTensor()``), ``"zscore"`` ((x/255 - mean_c)/std_c with the statistics of the dataset's
    training split, as ``Normalize(mean, std)`` with those statistics) or ``"none"`` (0..255).
    ``extra["preprocessing_assumed"]`` says which was used, for the commands to print.
    """
    from ..interop.onnx_import import from_proto, read_model
    path = Path(path)
    if dataset is None:
        raise ValueError(f"{path} has no scratchnet metadata (an ONNX file from another exporter, e.g. "
                         "torch.onnx.export), so it does not say its classes: give --dataset NAME, the dataset whose "
                         "classes its outputs are, and --normalize scale|zscore|none, how its pixels were scaled "
                         f"(default {FOREIGN_DEFAULT_NORMALIZE}: pixels / 255)")
    kind = normalize or FOREIGN_DEFAULT_NORMALIZE
    info = registry.info(dataset)
    proto = read_model(path)
    input_shape = _graph_input_shape(proto) or info.image_shape
    if input_shape != info.image_shape:
        raise ValueError(f"{path} takes inputs of shape {input_shape}, but {info.name}'s images are "
                         f"{info.image_shape}; give the --dataset it was trained on")
    graph = from_proto(proto, str(path))
    try:
        check_fits(graph, input_shape, len(info.classes))
    except ValueError as err:
        raise ValueError(f"{path} does not fit {info.name} ({len(info.classes)} classes): {err}") from None
    x_train = data.load(info.name, root=root, progress=False).x_train if kind == "zscore" else None
    preprocess = Preprocess.fit(x_train, kind=kind)
    assumed = {"scale": "pixels / 255 (as torchvision's ToTensor())",
               "zscore": f"(pixels / 255 - mean) / std with {info.name}'s training-set mean "
                         f"{_rounded(preprocess.mean)} and std {_rounded(preprocess.std)}",
               "none": "raw pixels 0..255"}[kind]
    last = type(graph.steps[-1].module).__name__
    return LoadedModel(model=graph.eval(), spec={"layers": [{"type": last}]}, preprocess=preprocess,
                       classes=list(info.classes), input_shape=input_shape, dataset=info.name,
                       extra={"preprocessing_assumed": f"--normalize {kind}: {assumed}"
                                                       + (" (the default)" if normalize is None else "")},
                       scratchnet_version=__version__)


def _graph_input_shape(proto) -> tuple[int, int, int] | None:
    """The (C, H, W) of the graph's image input where the file fixes all three, else None."""
    weights = {t.name for t in proto.graph.initializer}
    inputs = [v for v in proto.graph.input if v.name not in weights]
    if len(inputs) != 1:
        return None
    dims = inputs[0].type.tensor_type.shape.dim
    shape = tuple(d.dim_value for d in dims[1:])
    return shape if len(dims) == 4 and all(d > 0 for d in shape) else None


def _rounded(values: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:.4f}" for v in values) + ")"


def _loaded(model: nn.Module, meta: dict) -> LoadedModel:
    return LoadedModel(model=model.eval(), spec=meta["spec"], preprocess=Preprocess.from_dict(meta["preprocess"]),
                       classes=meta["classes"], input_shape=tuple(meta["input_shape"]), dataset=meta["dataset"],
                       extra=meta["extra"], scratchnet_version=meta["scratchnet_version"])


def _read_meta(path, array: np.ndarray) -> dict:
    try:
        meta = array_to_json(array)
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise ValueError(f"{path} is corrupted: its {META_KEY!r} entry is not JSON "
                         f"({type(err).__name__}: {str(err)[:200]})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not {_EXPECTED}: its {META_KEY!r} entry does not say format {FORMAT!r}")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValueError(f"{path} is corrupted: its model format version is {version!r}, not a number")
    if version > FORMAT_VERSION:
        written_by = meta.get("scratchnet_version") or "an unknown version"
        raise ValueError(f"{path} was written by a newer scratchnet ({written_by}, model format "
                         f"version {version}); this scratchnet {__version__} reads format version {FORMAT_VERSION}: "
                         "upgrade scratchnet (pip install -U scratchnet)")
    missing = [key for key in ("spec", "preprocess", "classes", "input_shape", "dataset") if key not in meta]
    if missing:
        raise ValueError(f"{path} is corrupted: its metadata lacks {', '.join(missing)}")
    _check_meta_types(path, meta)
    return {"extra": {}, **meta, "scratchnet_version": str(meta.get("scratchnet_version") or "unknown")}


def _check_meta_types(path, meta: dict) -> None:
    """ValueError naming the first metadata entry of the wrong type (a hand-edited or hostile file)."""
    shape = meta["input_shape"]
    checks = {
        "classes": isinstance(meta["classes"], list) and bool(meta["classes"])
        and all(isinstance(c, str) for c in meta["classes"]),
        "input_shape": isinstance(shape, list) and len(shape) == 3
        and all(isinstance(d, int) and not isinstance(d, bool) and 0 < d <= 1 << 16 for d in shape),
        "dataset": isinstance(meta["dataset"], str),
        "preprocess": isinstance(meta["preprocess"], dict) and isinstance(meta["preprocess"].get("kind"), str),
        "extra": isinstance(meta.get("extra", {}), dict),
    }
    wrong = [key for key, ok in checks.items() if not ok]
    if wrong:
        raise ValueError(f"{path} is corrupted: its metadata has {wrong[0]} = {str(meta[wrong[0]])[:100]!r}, "
                         "which is not what scratchnet writes")
    try:
        validate_spec(meta["spec"], source=f"{path} (its spec)")
        Preprocess.from_dict(meta["preprocess"])
    except (TypeError, KeyError) as err:
        raise ValueError(f"{path} is corrupted: bad preprocess metadata ({err})") from None
