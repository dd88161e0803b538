"""``run_experiment(id)``: run one seed experiment and write its comparison with the report.

The experiment's folder (default ``runs/reproduce/<id>``, quick runs ``runs/reproduce/quick/<id>``)
receives one run directory per training run, the experiment's figures, and
``comparison.md`` / ``comparison.json``: each reported figure next to ours and the data it
was measured on. Re-running continues: finished runs are read back, not retrained.
"""
from __future__ import annotations

from pathlib import Path

from .compare import comparison_rows, write_comparison
from .context import Context
from .registry import get


def default_out(experiment_id: str, quick: bool) -> Path:
    return Path("runs/reproduce") / ("quick" if quick else "") / experiment_id


def run_experiment(experiment_id: str, out: str | Path | None = None, quick: bool = False, root: str | None = None,
                   jobs: int | None = None, quiet: bool = False) -> str:
    """Run experiment ``experiment_id`` and return its comparison as Markdown (also written to ``out``).

    Raises ValueError for an unknown id, DatasetNotFoundError (saying how to get the data)
    when its dataset is not on this machine, RuntimeError when an optional package is missing.
    """
    experiment = get(experiment_id)
    ctx = Context(Path(out) if out else default_out(experiment_id, quick), quick=quick, root=root, jobs=jobs,
                  quiet=quiet)
    ctx.out.mkdir(parents=True, exist_ok=True)
    measured = experiment.procedure(ctx)
    rows = comparison_rows(experiment.figures, measured.values)
    scale = "quick (scaled down: not comparable with the report)" if quick else "full"
    title = f"{experiment.id} (SEEDS.md {experiment.source}): {experiment.summary}"
    notes = [f"run: {scale}", *(f"choice: {choice}" for choice in experiment.choices), *measured.notes]
    return write_comparison(ctx.out, experiment.id, title, experiment.reported_on, measured.measured_on, rows, notes)
