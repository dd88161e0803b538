"""``scratchnet recipes``: the named training recipes, what they train and what they measured here."""
from __future__ import annotations

import argparse

from .usage import UsageError
from ..terminal import plural
from ..train.config import ConfigError, TrainConfig
from ..train.recipes import RECIPES, Recipe, recipe

NOT_MEASURED = "not measured yet"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "recipes", help="list the named training recipes and what they measured here",
        description="Named recipes: a dataset, a model and the settings that train it well. Run one with "
                    "`scratchnet train --recipe NAME`; any other flag given beside it overrides the recipe's "
                    "setting (e.g. --epochs 5, --time-budget 10m). Accuracies and times are those measured on "
                    "this project's 2-core machine, with the command and conditions (`scratchnet recipes NAME`).",
    )
    parser.add_argument("name", nargs="?", help="show every setting of this recipe and how it was measured")
    parser.set_defaults(func=run_recipes)


def run_recipes(args: argparse.Namespace) -> int:
    try:
        print(table() if args.name is None else details(recipe(args.name)))
    except ConfigError as err:
        raise UsageError(str(err)) from None
    return 0


def table() -> str:
    """One row per recipe: name, dataset, model, training settings, length, measured accuracy and time."""
    rows = [("RECIPE", "DATASET", "MODEL", "TRAINING", "AUGMENT", "LENGTH", "ACCURACY", "TIME")]
    for item in RECIPES.values():
        settings, measured = item.settings, item.measured
        budget = settings.get("time_budget")
        rows.append((item.name, settings["dataset"], settings["model"], _training(settings),
                     settings.get("augment", "none"),
                     f"{budget / 60:g} min budget" if budget else f"{settings.get('epochs', TrainConfig.epochs)} epochs",
                     f"{measured.test_accuracy:.2%} ({measured.test_set})" if measured else NOT_MEASURED,
                     f"{measured.train_minutes:.1f} min, {plural(measured.epochs, 'epoch')}" if measured else "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines + ["", "Run one: scratchnet train --recipe NAME [any flag to override it]; "
                                  "every setting and how it was measured: scratchnet recipes NAME"])


def details(item: Recipe) -> str:
    """Everything about one recipe: what it is for, each setting, and its measurement or its absence."""
    defaults = TrainConfig()
    lines = [f"{item.name}: {item.summary}", f"made for: {item.family}", "", "settings (differences from the "
             "defaults of `scratchnet train`):"]
    for key, value in item.settings.items():
        if getattr(defaults, key, None) != value:
            lines.append(f"  {key.replace('_', '-')}: {value}")
    lines += ["", f"run it: scratchnet train --recipe {item.name}", ""]
    measured = item.measured
    if measured is None:
        lines.append(f"measured: {NOT_MEASURED}")
    else:
        lines += [f"measured: test accuracy {measured.test_accuracy:.2%} after {measured.train_minutes:.1f} min "
                  f"({plural(measured.epochs, 'epoch')}) of training on {measured.data}", f"  conditions: {measured.conditions}",
                  f"  command: {measured.command}"]
    return "\n".join(lines + [*item.notes])


def _training(settings: dict) -> str:
    """e.g. "adamw 0.003 onecycle, ema, tta"."""
    parts = [f"{settings.get('optimizer', TrainConfig.optimizer)} {settings.get('lr', TrainConfig.lr):g} "
             f"{settings.get('schedule', TrainConfig.schedule)}"]
    return ", ".join(parts + (["ema"] if settings.get("ema_decay") else []) + (["tta"] if settings.get("tta") else []))
