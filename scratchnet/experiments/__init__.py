"""Reproducing the seed reports' experiments (``scratchnet reproduce``) and grid search (``scratchnet search``).

    from scratchnet.experiments import EXPERIMENTS, run_experiment
    print(run_experiment("conv1-mnist", quick=True, root="/data"))   # the comparison table, as Markdown
"""
from .registry import EXPERIMENTS, Experiment, get
from .runner import default_out, run_experiment

__all__ = ["EXPERIMENTS", "Experiment", "default_out", "get", "run_experiment"]
