"""What an experiment runs with: its output folder, full or quick scale, where data is, and trained runs.

``Context.train(name, **settings)`` trains one ``TrainConfig`` into ``out/<name>`` with
``scratchnet.train.fit_or_resume``: a run already finished there is read back instead, and an
interrupted one is resumed, so re-running an experiment continues it.
In quick mode every run keeps ``QUICK`` images and at most ``QUICK_EPOCHS`` epochs.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .. import data
from ..data import locate
from ..data.dataset import not_found_message
from ..terminal import plural
from ..train.runfiles import CONFIG, HISTORY, METRICS, read_history, read_json

QUICK = {"train_subset": 600, "val_size": 100, "test_subset": 200}
QUICK_EPOCHS = 2
MNIST_STAND_IN = "mnist-10k"  # the 10,000-digit MNIST subset that stands in when full MNIST is absent


@dataclass
class FinishedRun:
    """A finished training run: its directory, metrics.json and history.csv rows (floats)."""

    run_dir: Path
    metrics: dict
    history: list[dict]

    @classmethod
    def read(cls, run_dir: Path) -> "FinishedRun":
        return cls(run_dir, read_json(run_dir / METRICS), read_history(run_dir / HISTORY))


def find_data(dataset: str, root: str | None) -> str:
    """The folder to load ``dataset`` from, without downloading.

    Full MNIST is looked for first; when it is absent, a ``mnist-10k`` folder next to any
    place MNIST is searched (e.g. ``ROOT/mnist-10k``) stands in. Raises
    DatasetNotFoundError saying where it looked and how to get the data.
    """
    info = data.registry.info(dataset)
    location, looked = locate.find(info, root)
    if location is not None:
        return str(location.folder)
    if dataset == "mnist":
        for folder, _ in locate.candidates(dataset, root):
            stand_in = folder.parent / MNIST_STAND_IN
            if locate.find(info, stand_in)[0] is not None:
                return str(stand_in)
        looked.append(f"{MNIST_STAND_IN} next to each of those places: not found")
    raise data.DatasetNotFoundError(not_found_message(info, looked, None))


@dataclass
class Context:
    """``out``: the experiment's folder; ``quick``: scaled down; ``root``: where datasets are
    looked for (see ``scratchnet.data.locate``); ``jobs``: worker processes for grids."""

    out: Path
    quick: bool = False
    root: str | None = None
    jobs: int | None = None
    quiet: bool = False

    def settings(self, quick: dict | None = None, **settings) -> dict:
        """TrainConfig settings with the dataset's folder resolved; in quick mode scaled down by
        ``QUICK``, at most ``QUICK_EPOCHS`` epochs, then the experiment's own ``quick`` overrides."""
        settings = {**settings, "root": find_data(settings["dataset"], self.root)}
        if self.quick:
            settings.update(QUICK, epochs=min(settings.get("epochs", QUICK_EPOCHS), QUICK_EPOCHS))
            settings.update(quick or {})
        return settings

    def train(self, name: str, quick: dict | None = None, **settings) -> FinishedRun:
        """Train (or read back, or resume) the run ``out/<name>`` with these TrainConfig settings
        (``quick``: overrides for quick mode, see ``settings``)."""
        from ..report import write_report
        from ..train import fit_or_resume

        run_dir = fit_or_resume(self.out / name, lambda: self.settings(quick, **settings), quiet=self.quiet,
                                report=None if self.quick else write_report)
        return FinishedRun.read(run_dir)

    def say(self, message: str) -> None:
        if not self.quiet:
            print(message, flush=True)


def data_description(run: FinishedRun, quick: bool) -> str:
    """What a run's numbers were measured on, e.g. "MNIST 10k subset (...)", plus the quick scale."""
    info = data.registry.info(run.metrics["dataset"])
    text = run.metrics.get("dataset_note") or f"{info.title} ({info.train_size:,} training / {info.test_size:,} test images)"
    if "train_images" in run.metrics:  # the split the run used, as counted when it trained
        text += (f"; {run.metrics['train_images']:,} / {run.metrics['val_images']:,} train / validation split "
                 "of the training images used")
    if quick:
        config = read_json(run.run_dir / CONFIG)
        text += (f"; QUICK: {config['train_subset']:,} training images ({config['val_size']} held out for "
                 f"validation), {config['test_subset']:,} test images, "
                 f"{plural(run.metrics.get('epochs_run', config['epochs']), 'epoch')} run")
    return text

