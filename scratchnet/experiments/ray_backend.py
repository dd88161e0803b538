"""The Ray backend of the search: each trial a Ray Tune trial, on one machine or a cluster.

    options = RayOptions(address="auto", cpus_per_trial=1, scheduler="asha")
    rows = run_ray(base, {"lr": [1e-3, 3e-4]}, "/shared/runs/search", options)

Each trial trains with ``fit_or_resume`` into ``OUT/trials/<name>`` (so ``OUT`` must be a
folder every node can reach when the cluster has several machines) and reports each epoch's
``val_loss`` and ``val_accuracy`` to Tune after the epoch's checkpoint is written. Tune's
own state lives in ``OUT/ray``. The rows that come back are the local backend's (see
``grid.collect``) plus a ``status``: finished, ``stopped after N epochs`` (by ASHA, which
never lets a trial that cannot win use up its epochs), ``failed: <why>`` or ``unfinished``.

- a search with ``--search optuna`` samples ``trials`` points of ranges such as
  ``lr=loguniform:1e-4:1e-2`` with Tune's Optuna searcher (TPE), trial names ``trial-<id>``;
- running the same search again continues it: finished and stopped trials are kept, and an
  interrupted trial (Ctrl-C, a node that died) resumes from its last epoch checkpoint;
  ``resume=True`` restores Tune's own state too (the Optuna study, ASHA's rungs);
- a failing trial is reported in its row and the other trials go on.

Ray is an optional dependency (``pip install 'scratchnet[ray]'``); nothing here imports it
until a Ray search starts.
"""
from __future__ import annotations

import logging
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..train.runfiles import HISTORY, is_finished, read_history, read_json, write_json
from .grid import RESULTS, Range, Trial, expand, sort_rows, summarize, write_csv

RAY_MISSING = ("the Ray backend needs Ray Tune, which is not installed: pip install 'scratchnet[ray]' "
               "(or pip install 'ray[tune]' optuna)")
STOPPED = "stopped.json"  # in a trial's run directory: the scheduler stopped it early (it stays stopped)
EXPERIMENT = "search"  # Tune's experiment name, under OUT/ray
TUNE_METRICS = ("val_loss", "val_accuracy")  # what a trial reports each epoch


class RayError(RuntimeError):
    """Ray is missing, or the cluster cannot be reached: the message says what to do."""


@dataclass
class RayOptions:
    """``address``: None starts a Ray instance on this machine, "auto" joins the one running
    here (``ray start --head``), HOST:PORT a cluster's head. ``scheduler``: None or "asha"
    (``grace_period`` epochs before a trial may be stopped; keeps 1/``reduction_factor`` of
    the trials at each rung). ``search``: "grid" or "optuna" (``trials`` samples)."""

    address: str | None = None
    cpus_per_trial: int = 1
    scheduler: str | None = None
    grace_period: int = 1
    reduction_factor: int = 2
    search: str = "grid"
    trials: int = 10
    resume: bool = False
    seed: int = 0  # the Optuna sampler's


def import_tune():
    """Ray Tune, or RayError saying what to install."""
    try:
        import ray
        from ray import tune
    except ImportError:
        raise RayError(RAY_MISSING) from None
    return ray, tune


def run_ray(base: dict, space: dict, out: str | Path, options: RayOptions, metric: str = "val_loss",
            progress: Callable[[str], None] | None = print) -> list[dict]:
    """Run the search over ``space`` (grid values, or Ranges with ``search="optuna"``) on Ray and
    return its rows, best first by ``metric``, also written to ``OUT/results.csv``."""
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # Tune's console tables: verbose=0 keeps it quiet
    # Restoring warns about every trial that never reported; the rows say what became of each trial.
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    ray, tune = import_tune()
    out = Path(out).resolve()
    say = progress or (lambda message: None)
    trials = expand(base, space) if options.search == "grid" else []
    started_here = connect(ray, options.address)
    try:
        names = _tune(tune, base, space, trials, out, options, metric, say)
    finally:
        if started_here:
            ray.shutdown()
    rows = [_row(out, name, values, names.get(name)) for name, values in _trial_values(out, trials, space)]
    rows = sort_rows(rows, metric)
    write_csv(rows, out / RESULTS)
    if any(row["status"] == "unfinished" for row in rows) and not any(
            row["status"].startswith("failed") for row in rows):
        say("search interrupted: run the same command with --resume to continue it (finished and stopped trials "
            "are kept, interrupted ones resume from their last epoch checkpoint)")
        raise KeyboardInterrupt
    return rows


# -- connecting ----------------------------------------------------------------------------------------------------
def connect(ray, address: str | None) -> bool:
    """Join or start Ray; True when this call started it (so the caller shuts it down)."""
    if ray.is_initialized():
        return False
    if address not in (None, "auto"):
        check_reachable(address)
        if not address.startswith("ray://"):  # a Ray client server is no GCS
            check_gcs(address)
    extra = {"include_dashboard": False} if address is None else {}
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING, **extra)
    except ConnectionError as err:
        where = "on this machine (address auto)" if address == "auto" else f"at {address}"
        raise RayError(f"cannot connect to a Ray cluster {where}: {err}. Start one with `ray start --head`, "
                       "or leave out --address to start Ray just for this search") from None
    return True


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """RayError within ``timeout`` seconds when nothing listens at HOST:PORT."""
    match = re.fullmatch(r"(?:ray://)?\[?([^\]]+?)\]?:(\d+)", address)
    if not match:
        raise RayError(f"--address {address!r} must be auto or HOST:PORT (e.g. 192.168.1.10:6379, the address "
                       "`ray start --head` prints)")
    host, port = match.group(1), int(match.group(2))
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as err:
        raise RayError(f"cannot reach a Ray cluster at {address} ({err.strerror or err}): start it there with "
                       f"`ray start --head --port {port}`, or check the address and the firewall") from None


def check_gcs(address: str, timeout: float = 5.0) -> None:
    """RayError within ``timeout`` seconds when what answers at HOST:PORT is not a Ray cluster's
    head (another server, or a network proxy that accepts every connection), instead of
    ``ray.init``'s half a minute of retries. A request carrying a made-up cluster ID is refused
    by a Ray head as a wrong cluster (AuthenticationError) and fails otherwise. Skipped where
    this Ray lacks the (internal) client it uses: ``ray.init`` then says it, more slowly."""
    try:
        from ray._raylet import GcsClient
        from ray.exceptions import AuthenticationError, RpcError
    except ImportError:
        return
    try:
        GcsClient(address=address, cluster_id="12" * 28).internal_kv_get(b"scratchnet", namespace=None,
                                                                         timeout=timeout)
    except AuthenticationError:
        return  # a Ray head, which rightly does not know the made-up cluster
    except RpcError as err:
        raise RayError(f"no Ray cluster answers at {address}, though something listens there ({err}): check "
                       "the address (the one `ray start --head` prints), or leave out --address to start Ray just "
                       "for this search") from None


# -- running ---------------------------------------------------------------------------------------------------------
def _tune(tune, base, space, trials: list[Trial], out: Path, options: RayOptions, metric: str,
          say) -> dict[str, str]:
    """Run Tune; return {trial name: failure message} for the trials that failed."""
    storage = out / "ray"
    trainable = tune.with_resources(
        tune.with_parameters(_trainable, base=base, settings={t.name: t.settings for t in trials}, out=str(out),
                             cpus=options.cpus_per_trial),
        {"cpu": options.cpus_per_trial})
    progress = _progress_callback(tune, out, say)
    if options.resume and tune.Tuner.can_restore(str(storage / EXPERIMENT)):
        say(f"resuming the Ray search in {storage / EXPERIMENT}")
        tuner = tune.Tuner.restore(str(storage / EXPERIMENT), trainable, resume_unfinished=True,
                                   resume_errored=True)
        # Tune restores the pickled RunConfig, callbacks included; ours must be this run's (its
        # failures are read below). Tuner.restore takes no run_config, hence the internal handle.
        tuner._local_tuner.get_run_config().callbacks = [progress]
    else:
        todo = [t for t in trials if not is_finished(out / "trials" / t.name)
                and not (out / "trials" / t.name / STOPPED).is_file()]
        if options.search == "grid" and len(todo) < len(trials):
            say(f"skipping {len(trials) - len(todo)} finished or stopped trial(s) in {out / 'trials'}")
        if options.search == "grid" and not todo:
            return {}
        tuner = tune.Tuner(trainable, param_space=_param_space(tune, space, todo, options),
                           tune_config=_tune_config(tune, metric, _max_epochs(base, space, trials), options),
                           run_config=tune.RunConfig(name=EXPERIMENT, storage_path=str(storage), verbose=0,
                                                     callbacks=[progress],
                                                     failure_config=tune.FailureConfig(max_failures=0)))
        say(f"running {len(todo) if options.search == 'grid' else options.trials} trial(s) on Ray, "
            f"{options.cpus_per_trial} CPU(s) each")
    tuner.fit()
    return progress.failed


def _max_epochs(base: dict, space: dict, trials: list[Trial]) -> int:
    """The most epochs any trial trains (TrainConfig's default where no setting says)."""
    from ..train import TrainConfig

    searched = space.get("epochs")  # a list of values, a Range or None
    epochs = [t.settings.get("epochs") for t in trials] + [base.get("epochs")]
    epochs += searched if isinstance(searched, list) else [getattr(searched, "high", None)]
    return int(max([e for e in epochs if e is not None] or [TrainConfig().epochs]))


def _param_space(tune, space: dict, todo: list[Trial], options: RayOptions) -> dict:
    if options.search == "grid":
        return {"trial": tune.grid_search([t.name for t in todo])}
    samplers = {"loguniform": tune.loguniform, "uniform": tune.uniform, "randint": lambda low, high: tune.randint(low, high + 1)}
    return {key: samplers[value.kind](value.low, value.high) if isinstance(value, Range) else tune.choice(value)
            for key, value in space.items()}


def _tune_config(tune, metric: str, max_epochs: int, options: RayOptions):
    tune_metric = metric if metric in TUNE_METRICS else "val_loss"
    mode = "max" if "accuracy" in tune_metric else "min"
    scheduler = search_alg = None
    if options.scheduler == "asha":
        from ray.tune.schedulers import ASHAScheduler

        # Rungs lie below max_t, so no trial is stopped at its last epoch; _trainable reports that
        # epoch only once the model and metrics are written (ASHA stops a trial reaching max_t).
        scheduler = ASHAScheduler(time_attr="epoch", max_t=max_epochs,
                                  grace_period=options.grace_period, reduction_factor=options.reduction_factor)
    if options.search == "optuna":
        try:
            from ray.tune.search.optuna import OptunaSearch

            search_alg = OptunaSearch(seed=options.seed)
        except (ImportError, AssertionError):
            raise RayError("--search optuna needs Optuna: pip install 'scratchnet[ray]' (or pip install optuna)") \
                from None
    return tune.TuneConfig(metric=tune_metric, mode=mode, scheduler=scheduler, search_alg=search_alg,
                           num_samples=options.trials if options.search == "optuna" else 1, reuse_actors=False)


def trial_name(config: dict, trial_id: str | None) -> str:
    """A Tune trial's directory name: the grid trial's own name, or ``trial-<Tune's id>`` for a sampled one."""
    return config["trial"] if "trial" in config else f"trial-{trial_id}"


def _trainable(config: dict, base: dict, settings: dict, out: str, cpus: int) -> None:
    """One Tune trial (in a Ray worker): train or resume its run directory, reporting each epoch."""
    from ray import tune
    from threadpoolctl import threadpool_limits

    from ..train import TrainConfig, fit_or_resume

    name = trial_name(config, tune.get_context().get_trial_id())
    values = settings[name] if "trial" in config else {**base, **config}
    epochs = int(values.get("epochs", TrainConfig().epochs))

    def report(row: dict) -> None:
        tune.report({"epoch": row["epoch"], **{key: row[key] for key in TUNE_METRICS}})

    def report_before_the_last(row: dict) -> None:
        if row["epoch"] < epochs:
            report(row)

    with threadpool_limits(limits=cpus):
        run_dir = fit_or_resume(Path(out) / "trials" / name, {**values, "threads": cpus}, quiet=True,
                                on_epoch_end=report_before_the_last)
    report(read_history(run_dir / HISTORY)[-1])  # the last epoch, now that the run is finished


def _progress_callback(tune, out: Path, say):
    """A Tune callback (in the driver) that says what happens to each trial, marks the trials the
    scheduler stopped (``STOPPED``) and collects the failures."""

    class Progress(tune.Callback):
        def __init__(self):
            self.failed: dict[str, str] = {}  # Tune calls back on the driver's one thread

        def on_trial_complete(self, iteration, trials, trial, **info):
            name = trial_name(trial.config, trial.trial_id)
            run_dir = out / "trials" / name
            if is_finished(run_dir):
                say(f"finished {name}")
                return
            epochs = len(read_history(run_dir / HISTORY)) if (run_dir / HISTORY).is_file() else 0
            write_json(run_dir / STOPPED, {"epochs": epochs})
            say(f"stopped {name} after {epochs} epoch(s) by ASHA: it could not beat the better trials")

        def on_trial_error(self, iteration, trials, trial, **info):
            name = trial_name(trial.config, trial.trial_id)
            self.failed[name] = _error_line(trial)
            say(f"failed {name}: {self.failed[name]}")

    return Progress()


def _error_line(trial, longest: int = 200) -> str:
    """The first sentence of the last line of a failed trial's error (the exception's own message,
    without Ray's traceback); the whole error stays in Tune's error file under OUT/ray."""
    text = ""
    path = getattr(trial, "error_file", None)
    if path and Path(path).is_file():
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return "the trial failed (see Ray's logs)"
    sentence = lines[-1].split(". ")[0].rstrip(".") + "."
    return sentence if len(sentence) <= longest else sentence[:longest - 3] + "..."


# -- the rows ---------------------------------------------------------------------------------------------------------
def _trial_values(out: Path, trials: list[Trial], space: dict) -> list[tuple[str, dict]]:
    """(name, grid values) of every trial of the search: the grid's, or every sampled run directory's."""
    if trials:
        return [(t.name, t.grid_values) for t in trials]
    found = []
    for run_dir in sorted((out / "trials").glob("trial-*")):
        config = read_json(run_dir / "config.json") if (run_dir / "config.json").is_file() else {}
        found.append((run_dir.name, {key: config.get(key) for key in space}))
    return found


def _row(out: Path, name: str, values: dict, failure: str | None) -> dict:
    run_dir = out / "trials" / name
    summary = summarize(run_dir) if (run_dir / HISTORY).is_file() or is_finished(run_dir) else {}
    if failure is not None:
        status = f"failed: {failure}"
    elif is_finished(run_dir):
        status = "finished"
    elif (run_dir / STOPPED).is_file():
        status = f"stopped after {read_json(run_dir / STOPPED)['epochs']} epoch(s)"
    else:
        status = "unfinished"
    return {"trial": name, **values, **summary, "status": status, "run_dir": str(run_dir)}
