"""``fit_or_resume(run_dir, settings)``: bring a run directory to a finished run, whatever state it is in.

    fit_or_resume("runs/search/trials/lr-0.001", {"dataset": "mnist", "model": "mlp2", "lr": 1e-3})

- finished (``metrics.json``): nothing is trained;
- started (``config.json``, e.g. interrupted by Ctrl-C, a killed process or a lost node):
  ``resume`` continues from its last epoch checkpoint, with the settings it was started with;
- otherwise: ``fit`` starts it with ``settings``.

The experiments (``Context.train``), the grid search's workers and the Ray backend's trials
all go through here, so re-running any of them continues where it stopped.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping

from .config import TrainConfig
from .runfiles import CONFIG, is_finished
from .trainer import ReportWriter, fit, resume


def fit_or_resume(run_dir: str | Path, settings: Mapping | Callable[[], Mapping], *, quiet: bool = False,
                  report: ReportWriter | None = None, on_epoch_end: Callable[[dict], None] | None = None) -> Path:
    """Finish the run in ``run_dir`` (see the module docstring) and return its directory.

    ``settings``: TrainConfig settings, or a function returning them, called only when a new
    run starts (so a finished run is read back without, e.g., looking for its dataset).
    ``report`` and ``on_epoch_end`` are as for ``fit``.
    """
    run_dir = Path(run_dir)
    if is_finished(run_dir):
        return run_dir
    if (run_dir / CONFIG).is_file():
        resume(run_dir, quiet=quiet, report=report, on_epoch_end=on_epoch_end)
    else:
        values = settings() if callable(settings) else settings
        fit(TrainConfig.from_dict({**values, "out": str(run_dir)}), quiet=quiet, report=report,
            on_epoch_end=on_epoch_end)
    return run_dir
