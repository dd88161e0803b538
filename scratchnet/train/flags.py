"""The one mapping between ``TrainConfig`` fields and ``scratchnet train`` flags.

Every field is the flag without its dashes, ``-`` for ``_`` (``val_size`` <-> ``--val-size``),
except those in ``RENAMED``. The train command builds its flags from it, the HTML report
prints a repeatable command with it, error messages name the flag the user typed, and
``scratchnet search --set/--grid`` accept either spelling.
"""
from __future__ import annotations

import dataclasses
import re

from ..suggest import close_names
from .config import TrainConfig

# Fields whose flag is not simply the field's name with dashes.
RENAMED = {"class_weights": "--class-weight", "early_stopping_patience": "--early-stopping"}
FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig))
# Flags people bring from other tools, and the one scratchnet uses (the CLI's "did you mean", and
# the settings of ``scratchnet search --set/--grid``).
FLAG_SYNONYMS = {
    "--learning-rate": "--lr", "--learning_rate": "--lr", "--lr-rate": "--lr", "--optimiser": "--optimizer",
    "--opt": "--optimizer", "--bs": "--batch-size", "--batch": "--batch-size", "--epoch": "--epochs",
    "--n-epochs": "--epochs", "--num-epochs": "--epochs", "--max-epochs": "--epochs", "--arch": "--model",
    "--data": "--dataset", "--data-dir": "--root", "--output": "--out", "--output-dir": "--out",
    "--patience": "--early-stopping", "--wd": "--weight-decay", "--scheduler": "--schedule",
    "--lr-schedule": "--schedule", "--normalise": "--normalize", "--workers": "--jobs", "--topk": "--top-k",
}


def flag(field: str) -> str:
    """The ``scratchnet train`` flag of a TrainConfig field: ``val_size`` -> ``--val-size``."""
    return RENAMED.get(field, "--" + field.replace("_", "-"))


def field(spelling: str) -> str:
    """The TrainConfig field a user meant: ``--val-size``, ``val-size`` and ``val_size`` all give
    ``val_size``; ``early-stopping`` gives ``early_stopping_patience``. Anything else comes
    back as typed, for the config's own check to reject with the list of settings."""
    wanted = "--" + spelling.strip().lstrip("-").replace("_", "-")
    for name in FIELDS:
        if flag(name) == wanted:
            return name
    return spelling.strip()


def meant(spelling: str) -> list[str]:
    """The fields a user likely meant by a setting that is none: its synonym (``learning-rate``
    -> ``lr``), else the closest names; [] when nothing is close."""
    wanted = "--" + spelling.strip().lstrip("-").replace("_", "-").lower()
    flags = {flag(name): name for name in FIELDS}
    synonym = FLAG_SYNONYMS.get(wanted)
    return [flags[synonym]] if synonym in flags else [flags[f] for f in close_names(wanted, flags, n=2)]


def flagged(message: str) -> str:
    """An error message about TrainConfig fields with each field named as its flag: the
    underscored names anywhere (``val_size`` -> ``--val-size``), the others where they open
    the message (``lr must be a number > 0`` -> ``--lr must be a number > 0``)."""
    underscored = "|".join(sorted((name for name in FIELDS if "_" in name), key=len, reverse=True))
    message = re.sub(rf"(?<![\w-])({underscored})\b", lambda m: flag(m.group(1)), message)
    first = message.split(" ", 1)[0]
    return flag(first) + message[len(first):] if first in FIELDS else message


def class_weight(text: str) -> tuple[str, float]:
    """A class weight as ``--class-weight`` spells it: ``Sandal=2`` -> ("Sandal", 2.0). A
    ValueError saying the form otherwise (the train command and ``search --set`` both read it)."""
    name, sep, weight = text.strip().rpartition("=")
    try:
        if not sep or not name.strip():
            raise ValueError
        return name.strip(), float(weight)
    except ValueError:
        raise ValueError(f"expected NAME=WEIGHT such as Sandal=2, got {text.strip()!r}") from None
