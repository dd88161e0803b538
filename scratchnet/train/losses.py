"""The loss registry: every name ``loss`` accepts, mapped to its class and settings.

Config validation, the trainer and evaluation (``make_loss``, ``loss_targets``), the help of
``scratchnet train --loss`` and report.html read this one table. ``"auto"`` is no entry: it
resolves to ``"mse"`` for models whose last layer is a Sigmoid (as cnet's), ``"ce"`` otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import data, nn
from ..spec import output_layer_type

AUTO = "auto"


@dataclass(frozen=True)
class LossEntry:
    """``cls``: the loss module; ``label``: how the report names it; ``one_hot``: the loss compares
    outputs with one-hot rows (else with class indices); ``settings``: the TrainConfig fields it
    uses (``class_weights`` by class name, ``label_smoothing``); ``help``: one line for --help."""

    cls: type
    label: str
    one_hot: bool
    settings: tuple[str, ...]
    help: str


LOSSES: dict[str, LossEntry] = {
    "ce": LossEntry(nn.CrossEntropyLoss, "cross-entropy", False, ("class_weights", "label_smoothing"),
                    "cross-entropy on logits"),
    "mse": LossEntry(nn.MSELoss, "mean squared error on one-hot targets", True, (), "mean squared error"),
    "bce": LossEntry(nn.BCEWithLogitsLoss, "binary cross-entropy on one-hot targets", True, (),
                     "binary cross-entropy on logits"),
}
LOSS_CHOICES = (AUTO, *LOSSES)


def loss_label(name: str) -> str:
    """How the report names loss ``name`` ("cross-entropy" for "ce"), or ``name`` if unknown."""
    entry = LOSSES.get(name)
    return entry.label if entry else name


def resolve_loss(name: str, spec: dict) -> str:
    """``name``, with ``"auto"`` resolved for the model ``spec``: mse after a Sigmoid, else ce."""
    if name != AUTO:
        return name
    return "mse" if output_layer_type(spec) == "Sigmoid" else "ce"


def losses_with(setting: str) -> list[str]:
    """The loss names whose entry uses TrainConfig field ``setting``."""
    return [name for name, entry in LOSSES.items() if setting in entry.settings]


def make_loss(loss_name: str, classes: list[str], class_weights: dict[str, float] | None = None,
              label_smoothing: float = 0.0) -> nn.Module:
    """The loss module for ``loss_name``; class weights are by class name."""
    entry = LOSSES[loss_name]
    kwargs = {}
    if "class_weights" in entry.settings and class_weights:
        kwargs["weight"] = np.array([class_weights.get(name, 1.0) for name in classes], dtype=np.float32)
    if "label_smoothing" in entry.settings:
        kwargs["label_smoothing"] = label_smoothing
    return entry.cls(**kwargs)


def loss_targets(loss_name: str, y: np.ndarray, num_classes: int) -> np.ndarray:
    """What the loss compares outputs with: the labels, or one-hot rows for one-hot losses."""
    return data.one_hot(y, num_classes) if LOSSES[loss_name].one_hot else y


def mixed_loss(loss_fn: nn.Module, outputs: np.ndarray, targets: np.ndarray, partner_targets: np.ndarray,
               lam: float) -> tuple[float, np.ndarray]:
    """A mixed batch's loss λ · L(outputs, targets) + (1 − λ) · L(outputs, partner_targets) and its
    gradient with respect to ``outputs`` (the same mix of the two gradients). For cross-entropy
    this is the loss against the soft targets λ · onehot(y) + (1 − λ) · onehot(y_partner)."""
    own = float(loss_fn(outputs, targets))
    own_grad = lam * loss_fn.backward()
    partner = float(loss_fn(outputs, partner_targets))
    return lam * own + (1 - lam) * partner, own_grad + (1 - lam) * loss_fn.backward()
