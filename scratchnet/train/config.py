"""TrainConfig: every setting of a training run, saved as the run directory's ``config.json``.

A config holds only JSON-able values, so ``TrainConfig.from_dict(config.to_dict())``
repeats the run exactly. ``validate()`` checks everything that can be checked without
reading the dataset; ``fit`` checks the rest (class names, sizes) before training starts.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..data.augment import parse_augment
from .losses import LOSS_CHOICES, LOSSES, loss_label, losses_with
from .optimizers import OPTIMIZERS
from .schedules import SCHEDULE_CHOICES

NORMALIZATIONS = ("none", "scale", "zscore")


class ConfigError(ValueError):
    """A setting that cannot work (unknown model, class, size out of range, ...), found before training."""


@dataclass
class TrainConfig:
    """The settings of one training run. Defaults train a good Fashion-MNIST CNN in minutes.

    Data: ``dataset`` (a name ``scratchnet datasets`` lists) found under ``root`` (None: the
    usual places); ``train_subset``/``test_subset`` keep that many images (seeded by
    ``split_seed``) for quick runs; ``val_size`` images of the training set (a count, or a
    fraction in (0, 1)) are held out for validation, split with ``split_seed``, per class
    when ``stratify``; ``normalize`` is ``"none"`` (pixels 0..255), ``"scale"`` (0..1) or
    ``"zscore"`` (statistics of the training split); ``augment`` joins with "+" the names of
    ``scratchnet.data.AUGMENTATIONS``: random shifts by up to ``crop_padding`` pixels
    (``"crop"``), horizontal flips (``"flip"``), random rotation by up to ``affine_degrees``,
    shift by up to ``affine_translate`` of the size, scaling by up to ±``affine_scale`` and
    shear by up to ``affine_shear`` degrees (``"affine"``), random erasing of a rectangle with
    probability ``erase_prob`` (``"erase"``), a Gaussian blur of σ up to ``blur_sigma`` pixels with
    probability ``blur_prob`` (``"blur"``), and one batch mix, ``"mixup"`` or ``"cutmix"``,
    with λ ~ Beta(``mix_alpha``, ``mix_alpha``).

    Model and loss: ``model`` is a zoo name (``scratchnet models``) or a JSON/TOML file
    describing the layers. ``loss`` is ``"ce"`` (cross-entropy on logits, optionally with
    ``class_weights`` by class name, e.g. ``{"Sandal": 2}``, and ``label_smoothing``),
    ``"mse"`` or ``"bce"`` (on one-hot targets), or ``"auto"``: ``"mse"`` for models whose
    last layer is a Sigmoid (as cnet's), ``"ce"`` otherwise. ``init_from`` starts the model from
    the weights of a .safetensors, .onnx or .npz file (``scratchnet.train.pretrained``);
    ``new_head`` then starts the last layer afresh when its shape differs (another number of classes).

    Optimisation: ``optimizer`` with ``lr``, ``momentum`` (sgd, rmsprop), ``weight_decay``,
    ``betas`` (adam, adamw); ``skip_decay_norm_bias`` exempts BatchNorm weights and every bias
    from ``weight_decay``; ``clip_grad_norm`` rescales the gradients whenever their global L2
    norm exceeds it. ``schedule`` (see ``scratchnet.train.schedules``): ``"step"`` multiplies
    the rate by ``gamma`` every ``step_size`` epochs, ``"cosine"`` anneals it to ``min_lr``
    over ``epochs``, ``"warmup-cosine"`` warms up linearly from lr/10 over ``warmup_epochs``
    then anneals per step, ``"onecycle"`` rises to ``lr`` over the first ``pct_start`` of the
    steps and anneals far below it, ``"plateau"`` multiplies the rate by ``gamma`` after
    ``plateau_patience`` epochs without a better validation loss (down to ``min_lr``);
    ``batch_size`` is an int or ``"full"`` (full-batch gradient descent). ``ema_decay`` keeps
    an exponential moving average of the weights, which is validated, tested and saved
    instead of the raw weights; ``tta`` scores the test set on each image and its mirror image.

    Stopping: the best epoch is the one with minimum validation loss; ``restore_best`` puts
    its weights back at the end; ``early_stopping_patience`` epochs without a better
    validation loss stop the run (None: never).

    Run: ``seed`` seeds initialisation, shuffling, dropout and augmentation, so a run repeats
    bit for bit; ``threads`` caps BLAS threads (None: all cores); ``out`` is the run
    directory (None: ``runs/<dataset>-<model>-<time>``); ``time_budget`` (seconds) replaces
    ``epochs`` by as many epochs as the first epoch's time says fit in it, and lays the
    schedule out over them; ``recipe`` records the named recipe the settings came from.
    """

    dataset: str = "fashion-mnist"
    root: str | None = None
    model: str = "cnn3-128-0.1"
    loss: str = "auto"
    init_from: str | None = None
    new_head: bool = False
    class_weights: dict[str, float] = field(default_factory=dict)
    label_smoothing: float = 0.0
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.0
    weight_decay: float = 0.0
    skip_decay_norm_bias: bool = False
    betas: tuple[float, float] = (0.9, 0.999)
    clip_grad_norm: float | None = None
    schedule: str = "none"
    step_size: int = 10
    gamma: float = 0.1
    min_lr: float = 0.0
    warmup_epochs: int = 1
    pct_start: float = 0.25
    plateau_patience: int = 3
    ema_decay: float | None = None
    tta: bool = False
    epochs: int = 10
    batch_size: int | str = 128
    val_size: int | float = 0.1
    split_seed: int = 0
    stratify: bool = False
    early_stopping_patience: int | None = None
    restore_best: bool = True
    normalize: str = "zscore"
    augment: str = "none"
    crop_padding: int = 2
    affine_degrees: float = 10.0
    affine_translate: float = 0.1
    affine_scale: float = 0.1
    affine_shear: float = 10.0
    erase_prob: float = 0.5
    blur_prob: float = 0.5
    blur_sigma: float = 1.5
    mix_alpha: float = 1.0
    seed: int = 0
    threads: int | None = None
    train_subset: int | None = None
    test_subset: int | None = None
    out: str | None = None
    time_budget: float | None = None
    recipe: str | None = None

    def to_dict(self) -> dict:
        """The settings as JSON-able values (tuples become lists)."""
        values = dataclasses.asdict(self)
        values["betas"] = list(self.betas)
        return values

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        """The inverse of ``to_dict``; unknown keys are an error, missing keys take defaults."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown training settings {unknown}; known settings are {sorted(known)}")
        values = dict(values)
        if "betas" in values:
            values["betas"] = tuple(values["betas"])
        return cls(**values)

    @classmethod
    def from_recipe(cls, name: str, **overrides) -> "TrainConfig":
        """The settings of the named recipe (``scratchnet recipes``) with ``overrides`` on top."""
        from .recipes import recipe_config  # recipes build on this class

        return recipe_config(name, **overrides)

    def validate(self) -> None:
        """Raise ValueError naming the first setting that is out of range and what is allowed."""
        _choice("loss", self.loss, LOSS_CHOICES)
        _choice("optimizer", self.optimizer, tuple(OPTIMIZERS))
        _choice("schedule", self.schedule, SCHEDULE_CHOICES)
        _choice("normalize", self.normalize, NORMALIZATIONS)
        parse_augment(self.augment)
        _positive("lr", self.lr)
        _positive_int("epochs", self.epochs)
        _positive_int("step_size", self.step_size)
        _non_negative("momentum", self.momentum)
        _non_negative("weight_decay", self.weight_decay)
        _non_negative("min_lr", self.min_lr)
        _non_negative_int("crop_padding", self.crop_padding)
        for name in ("affine_degrees", "affine_translate", "affine_shear", "mix_alpha"):
            _non_negative(name, getattr(self, name))
        _positive("mix_alpha", self.mix_alpha)
        if not 0 <= self.affine_scale < 1:
            raise ValueError(f"affine_scale (the largest relative zoom) must be in [0, 1), got {self.affine_scale}")
        if not self.affine_shear < 90:
            raise ValueError(f"affine_shear must be below 90 degrees, got {self.affine_shear}")
        if not 0 <= self.erase_prob <= 1:
            raise ValueError(f"erase_prob must be in [0, 1], got {self.erase_prob}")
        if not 0 <= self.blur_prob <= 1:
            raise ValueError(f"blur_prob must be in [0, 1], got {self.blur_prob}")
        if not 0.1 <= self.blur_sigma <= 10:
            raise ValueError(f"blur_sigma (the widest blur, in pixels) must be in [0.1, 10], got {self.blur_sigma}")
        _non_negative_int("warmup_epochs", self.warmup_epochs)
        _positive_int("plateau_patience", self.plateau_patience)
        if not 0 < self.pct_start < 1:
            raise ValueError(f"pct_start (onecycle's share of rising steps) must be in (0, 1), got {self.pct_start}")
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in (0, 1), e.g. 0.999, or None; got {self.ema_decay}")
        for name in ("clip_grad_norm", "time_budget"):
            if getattr(self, name) is not None:
                _positive(name, getattr(self, name))
        if self.schedule == "warmup-cosine" and self.warmup_epochs >= self.epochs and self.time_budget is None:
            raise ValueError(f"warmup_epochs ({self.warmup_epochs}) must be fewer than epochs ({self.epochs}) "
                             "for the warmup-cosine schedule")
        _non_negative_int("seed", self.seed)
        _non_negative_int("split_seed", self.split_seed)
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if not 0 < self.gamma <= 1:
            raise ValueError(f"gamma (the step schedule's factor) must be in (0, 1], got {self.gamma}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas}")
        if self.batch_size != "full":
            _positive_int("batch_size", self.batch_size, hint=' or "full" for full-batch gradient descent')
        if isinstance(self.val_size, float):
            if not 0 < self.val_size < 1:
                raise ValueError(f"val_size as a fraction must be in (0, 1), got {self.val_size}")
        else:
            _positive_int("val_size", self.val_size, hint=" (a count) or a fraction in (0, 1)")
        for name in ("early_stopping_patience", "threads", "train_subset", "test_subset"):
            if getattr(self, name) is not None:
                _positive_int(name, getattr(self, name), hint=" or None")
        if not isinstance(self.class_weights, dict):
            raise ValueError("class_weights must map class names to weights, e.g. {\"Sandal\": 2} (on the command "
                             f"line Sandal=2); got {self.class_weights!r}")
        for name, weight in self.class_weights.items():
            _positive(f"class weight of {name!r}", weight)
        if self.new_head and not self.init_from:
            raise ValueError("new_head starts afresh the last layer of weights loaded with init_from; give init_from")
        unused = [name for name in ("class_weights", "label_smoothing")
                  if getattr(self, name) and self.loss in LOSSES and name not in LOSSES[self.loss].settings]
        if unused:
            users = losses_with(unused[0])
            raise ValueError(f"{' and '.join(unused)} apply to {' and '.join(map(loss_label, users))} only; "
                             f"use loss {' or '.join(map(repr, users))}")


def _choice(name: str, value, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive(name: str, value) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ValueError(f"{name} must be a number > 0, got {value!r}")


def _non_negative(name: str, value) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")


def _positive_int(name: str, value, hint: str = "") -> None:
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1{hint}, got {value!r}")


def _non_negative_int(name: str, value) -> None:
    if not _is_int(value) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
