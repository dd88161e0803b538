"""The optimiser registry: every name ``optimizer`` accepts, mapped to its class and settings.

Config validation (``TrainConfig.validate``), the trainer (``make_optimizer``), the help of
``scratchnet train --optimizer`` and report.html read this one table, so adding an optimiser to
the command line is one entry here, plus its class in ``scratchnet/optim/``.

Each class is called as ``cls(params, lr=config.lr, weight_decay=config.weight_decay, **extra)``
where ``extra`` holds the TrainConfig fields the entry names in ``settings``, under the same
keyword (``momentum``, ``betas``).
"""
from __future__ import annotations

from dataclasses import dataclass

from .. import optim


@dataclass(frozen=True)
class OptimizerEntry:
    """``cls``: the optimiser class; ``label``: its proper name (the report); ``settings``: the
    TrainConfig fields passed to it besides lr and weight_decay; ``help``: one line for --help."""

    cls: type
    label: str
    settings: tuple[str, ...]
    help: str


OPTIMIZERS: dict[str, OptimizerEntry] = {
    "sgd": OptimizerEntry(optim.SGD, "SGD", ("momentum",), "stochastic gradient descent (with --momentum)"),
    "adam": OptimizerEntry(optim.Adam, "Adam", ("betas",), "Adam (--betas)"),
    "adamw": OptimizerEntry(optim.AdamW, "AdamW", ("betas",), "Adam with decoupled weight decay (--betas)"),
    "adagrad": OptimizerEntry(optim.Adagrad, "Adagrad", (), "Adagrad"),
    "rmsprop": OptimizerEntry(optim.RMSprop, "RMSprop", ("momentum",), "RMSprop (with --momentum)"),
}


def optimizer_label(name: str) -> str:
    """The proper name of optimiser ``name`` ("AdamW" for "adamw"), or ``name`` if unknown."""
    entry = OPTIMIZERS.get(name)
    return entry.label if entry else name


def make_optimizer(config, params) -> optim.Optimizer:
    """The optimiser ``config.optimizer`` names, over ``params`` (parameters or param groups)."""
    entry = OPTIMIZERS[config.optimizer]
    extra = {name: _plain(getattr(config, name)) for name in entry.settings}
    return entry.cls(params, lr=config.lr, weight_decay=config.weight_decay, **extra)


def param_groups(model, skip_decay_norm_bias: bool = False) -> list:
    """The parameters to optimise: all of ``model``'s, or with ``skip_decay_norm_bias`` two groups,
    the weight matrices and kernels, then every 1-D parameter (biases, normalisation scales and
    shifts) with ``weight_decay`` 0."""
    params = list(model.parameters())
    if not skip_decay_norm_bias:
        return params
    decayed = [p for p in params if p.data.ndim > 1]
    exempt = [p for p in params if p.data.ndim <= 1]
    groups = [{"params": decayed}, {"params": exempt, "weight_decay": 0.0}]
    return [group for group in groups if group["params"]]


def _plain(value):
    return tuple(value) if isinstance(value, list) else value
