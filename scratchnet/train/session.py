"""Preparing a training run: every setting checked, the model built and the data loaded before the first batch.

``prepare(config, run_dir)`` returns a ``Session``: the model, loss, optimiser, schedule,
training batches (with their augmentation), the batch mix, the weight average and the
validation and test images one run trains and scores with.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import contextlib

import numpy as np

from .. import data, nn, optim, zoo
from ..data.augment import CutMix, MixUp, build_augment
from ..random import manual_seed
from .pretrained import init_from
from ..spec import build_model, load_spec
from ..terminal import say
from .config import TrainConfig
from .ema import WeightAverage
from .evaluation import model_outputs, pick_test_images
from .losses import loss_targets, make_loss, resolve_loss
from .optimizers import make_optimizer, param_groups
from .schedules import Plan, make_scheduler


@dataclass
class Session:
    """Everything one run trains with, prepared and checked before the first batch."""

    config: TrainConfig
    run_dir: Path
    spec: dict
    model: nn.Sequential
    loss_name: str
    loss_fn: nn.Module
    optimizer: optim.Optimizer
    scheduler: optim.LRScheduler | None
    dataset: data.Dataset
    preprocess: data.Preprocess
    batches: data.Batches
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    test_index: np.ndarray
    quiet: bool
    mix: MixUp | CutMix | None = None
    ema: WeightAverage | None = None

    def targets(self, y: np.ndarray) -> np.ndarray:
        return loss_targets(self.loss_name, y, len(self.dataset.classes))

    def plan(self, epochs: int) -> Plan:
        return Plan(epochs, len(self.batches))

    def evaluated(self):
        """A context in which the model holds the weights that are validated, tested and saved:
        the weight average when there is one, else the trained weights."""
        return self.ema.applied(self.model) if self.ema is not None else contextlib.nullcontext()

    def outputs(self, x: np.ndarray, tta: bool = False) -> np.ndarray:
        """The evaluated weights' outputs for uint8 images ``x`` (averaged with the mirror images' if ``tta``)."""
        with self.evaluated():
            return model_outputs(self.model, x, self.preprocess, tta=tta)

    def evaluated_state(self) -> dict[str, np.ndarray]:
        """A copy of the weights ``evaluated`` puts in the model."""
        return {k: v.copy() for k, v in self.ema.state.items()} if self.ema is not None else self.model.state_dict()

    def say(self, message: str) -> None:
        if not self.quiet:
            say(message)

    def scheduler_state(self) -> dict | None:
        return None if self.scheduler is None else self.scheduler.state_dict()


def prepare(config: TrainConfig, run_dir: Path, quiet: bool, spec: dict | None = None) -> Session:
    """Check every setting, build the model (from ``spec`` when resuming) and load the data."""
    info = data.registry.info(config.dataset)
    classes = list(info.classes)
    unknown = sorted(set(config.class_weights) - set(classes))
    if unknown:
        raise ValueError(f"class weights name {', '.join(map(repr, unknown))}, not classes of {config.dataset}; "
                         f"its classes are {', '.join(classes)}")
    if "crop" in config.augment.split("+") and config.crop_padding >= max(info.image_shape[1:]):
        raise ValueError(f"crop_padding {config.crop_padding} is not smaller than the {info.name} images "
                         f"({'x'.join(map(str, info.image_shape[1:]))}); shifts of a few pixels (2-4) are usual")
    fresh = spec is None  # resuming passes the checkpoint's spec, and its weights replace the initial ones
    if spec is None and config.model.endswith((".json", ".toml")):
        spec = load_spec(config.model)
    elif spec is None:
        spec = zoo.spec(config.model, info.image_shape, len(classes))
    manual_seed(config.seed)
    model = build_model(spec, info.image_shape, len(classes))
    if config.init_from and fresh:
        summary = init_from(model, config.init_from, new_head=config.new_head)
        if not quiet:
            say(summary)
    loss_name = resolve_loss(config.loss, spec)

    ds = data.load(config.dataset, root=config.root, progress=not quiet)
    x_train, y_train = ds.x_train, ds.y_train
    if config.train_subset:
        x_train, y_train = data.subset(x_train, y_train, config.train_subset, seed=config.split_seed)
    x_tr, y_tr, x_val, y_val = data.train_val_split(x_train, y_train, config.val_size, seed=config.split_seed,
                                                    stratify=config.stratify)
    test_index = pick_test_images(ds.y_test, config.test_subset, config.split_seed)
    batch_size = len(x_tr) if config.batch_size == "full" else config.batch_size
    if batch_size > len(x_tr):
        raise ValueError(f"batch_size {batch_size} is larger than the {len(x_tr)} training images; "
                         f"use at most {len(x_tr)}, or 'full' for full-batch gradient descent")
    preprocess = data.Preprocess.fit(x_tr, kind=config.normalize)
    augment, mix = build_augment(config.augment, config)
    batches = data.Batches(x_tr, y_tr, batch_size, preprocess=preprocess, shuffle=True, seed=config.seed,
                           augment=augment)
    optimizer = make_optimizer(config, param_groups(model, config.skip_decay_norm_bias))
    return Session(config=config, run_dir=run_dir, spec=spec, model=model, loss_name=loss_name,
                   loss_fn=make_loss(loss_name, classes, config.class_weights, config.label_smoothing),
                   optimizer=optimizer, scheduler=make_scheduler(config, optimizer, Plan(config.epochs, len(batches))),
                   dataset=ds, preprocess=preprocess, batches=batches, x_val=x_val, y_val=y_val,
                   x_test=ds.x_test[test_index], y_test=ds.y_test[test_index], test_index=test_index, quiet=quiet,
                   mix=mix, ema=WeightAverage(model, config.ema_decay) if config.ema_decay else None)
