"""Scoring a model on labelled images, and ``evaluate(run)``: a trained model on a test set.

The numbers are those of ``metrics.json``: the loss the model was trained with, accuracy,
per-class precision/recall/F1/support, macro and weighted averages and the confusion
matrix (see ``metrics``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import data, nn
from ..terminal import batches
from .config import ConfigError
from .losses import loss_targets, make_loss
from .metrics import classification_report
from .modelfile import LoadedModel, load_model, outputs_to_probabilities
from .npzio import save_npz
from .runfiles import CONFIG, METRICS, PREDICTIONS, read_json, write_text_atomic

EVAL_BATCH = 1000


def model_outputs(model: nn.Module, x: np.ndarray, preprocess: data.Preprocess, tta: bool = False,
                  progress: bool = False) -> np.ndarray:
    """The outputs for uint8 images x in eval mode, EVAL_BATCH images at a time; the mode is restored.

    With ``tta`` (test-time augmentation) each output is the mean of the outputs for the image
    and for its mirror image (flipped left-right): (f(x) + f(flip(x))) / 2. ``progress``: a
    progress bar on a terminal for many images.
    """
    was_training = model.training
    model.eval()
    try:
        starts = batches(len(x), EVAL_BATCH, "scoring", show=progress)
        return np.concatenate([_outputs(model, preprocess(x[i:i + EVAL_BATCH]), tta) for i in starts])
    finally:
        model.train(was_training)


def _outputs(model: nn.Module, batch: np.ndarray, tta: bool) -> np.ndarray:
    if not tta:
        return model(batch)
    return (model(batch) + model(np.ascontiguousarray(batch[..., ::-1]))) / 2


@dataclass
class Scores:
    """A model's outputs on a test set turned into metrics.json's test entries and predictions."""

    metrics: dict
    y_pred: np.ndarray
    probabilities: np.ndarray


def score(spec: dict, outputs: np.ndarray, y: np.ndarray, classes: list[str], loss_fn: nn.Module,
          loss_name: str) -> Scores:
    """test_loss, test_accuracy, per_class, macro_avg, weighted_avg, confusion_matrix for ``outputs``."""
    probabilities = outputs_to_probabilities(spec, outputs)
    y_pred = probabilities.argmax(axis=1).astype(np.int64)
    report = classification_report(y, y_pred, classes)
    metrics = {"test_loss": float(loss_fn(outputs, loss_targets(loss_name, y, len(classes)))),
               "test_accuracy": report.pop("accuracy"), **report}
    return Scores(metrics, y_pred, probabilities)


def pick_test_images(y_test: np.ndarray, test_subset: int | None, seed: int) -> np.ndarray:
    """Positions in the test set to score: all, or ``test_subset`` of them drawn with ``seed``."""
    index = np.arange(len(y_test))
    return data.subset(index, y_test, test_subset, seed=seed)[0] if test_subset else index


def write_predictions(run_dir: Path, y_true: np.ndarray, scores: Scores, index: np.ndarray) -> None:
    """test_predictions.npz: y_true, y_pred, probabilities and each row's index in the test set."""
    save_npz(run_dir / PREDICTIONS, {"y_true": y_true.astype(np.int64), "y_pred": scores.y_pred,
                                      "probabilities": scores.probabilities, "index": index}, compress=True)


@dataclass
class Evaluation:
    """What ``evaluate`` measured, and whether it rewrote the run's metrics and predictions."""

    model: LoadedModel
    dataset: str
    dataset_note: str
    scores: Scores
    wrote_run_files: bool


def evaluate(run: str | Path, dataset: str | None = None, root: str | None = None,
             test_subset: int | None = None, progress: bool = True, tta: bool | None = None,
             normalize: str | None = None) -> Evaluation:
    """Score a run's model (``run`` is a run directory or a model file) on a test set.

    An ONNX file without scratchnet metadata (e.g. from ``torch.onnx.export``) needs ``dataset``
    for its classes; ``normalize`` is its preprocessing (see ``modelfile.load_foreign_onnx``).

    Defaults come from the run's config.json when there is one: the dataset, its root, the
    test subset, the loss (with its class weights) and ``tta`` (mirror-image test-time
    augmentation). Scoring a run on its own test set
    also rewrites the test entries of metrics.json and test_predictions.npz.
    """
    run = Path(run)
    run_dir = run if run.is_dir() else None
    config = _run_config(run_dir)
    config_root = root if root is not None else config.get("root")
    model = load_model(run, dataset=dataset, normalize=normalize, root=config_root)
    dataset = dataset or model.dataset
    own_test_set = run_dir is not None and dataset == model.dataset and test_subset in (None, config.get("test_subset"))
    test_subset = test_subset or (config.get("test_subset") if own_test_set else None)
    ds = data.load(dataset, root=config_root, progress=progress)
    if list(ds.classes) != list(model.classes) or ds.image_shape != model.input_shape:
        raise ConfigError(f"the model was trained on {model.dataset} ({len(model.classes)} classes, images "
                          f"{model.input_shape}); {dataset} has {len(ds.classes)} classes and images {ds.image_shape}")
    index = pick_test_images(ds.y_test, test_subset, config.get("split_seed", 0))
    loss_name = model.extra.get("loss", "ce")
    loss_fn = make_loss(loss_name, ds.classes, config.get("class_weights"), config.get("label_smoothing", 0.0))
    tta = config.get("tta", False) if tta is None else tta
    outputs = model_outputs(model.model, ds.x_test[index], model.preprocess, tta=tta, progress=progress)
    scores = score(model.spec, outputs, ds.y_test[index], ds.classes, loss_fn, loss_name)
    if own_test_set:
        _update_metrics(run_dir / METRICS, scores.metrics)
        write_predictions(run_dir, ds.y_test[index], scores, index)
    return Evaluation(model, dataset, ds.note, scores, wrote_run_files=own_test_set)


def _run_config(run_dir: Path | None) -> dict:
    if run_dir is None or not (run_dir / CONFIG).is_file():
        return {}
    return read_json(run_dir / CONFIG)


def _update_metrics(path: Path, test_metrics: dict) -> None:
    metrics = read_json(path) if path.is_file() else {}
    write_text_atomic(path, json.dumps({**metrics, **test_metrics}, indent=2) + "\n")
