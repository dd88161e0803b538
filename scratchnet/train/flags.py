"""The one mapping between ``TrainConfig`` fields and ``scratchnet train`` flags.

Every field is the flag without its dashes, ``-`` for ``_`` (``val_size`` <-> ``--val-size``),
except those in ``RENAMED``. The train command builds its flags from it, the HTML report
prints a repeatable command with it, error messages name the flag the user typed, and
``scratchnet search --set/--grid`` accept either spelling.
"""
from __future__ import annotations

import dataclasses
import re

from .config import TrainConfig

# Fields whose flag is not simply the field's name with dashes.
RENAMED = {"class_weights": "--class-weight", "early_stopping_patience": "--early-stopping"}
FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig))


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


def flagged(message: str) -> str:
    """An error message about TrainConfig fields with each field named as its flag: the
    underscored names anywhere (``val_size`` -> ``--val-size``), the others where they open
    the message (``lr must be a number > 0`` -> ``--lr must be a number > 0``)."""
    underscored = "|".join(sorted((name for name in FIELDS if "_" in name), key=len, reverse=True))
    message = re.sub(rf"(?<![\w-])({underscored})\b", lambda m: flag(m.group(1)), message)
    first = message.split(" ", 1)[0]
    return flag(first) + message[len(first):] if first in FIELDS else message
