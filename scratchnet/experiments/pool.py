"""The local backend of the grid search: each trial in its own process, at most ``jobs`` at a time.

    run_trials([("lr-0.001", train_trial, settings, "runs/s/trials/lr-0.001"), ...], jobs=2)

One process per trial (rather than a pool of long-lived workers) means a trial whose
process dies (``kill -9``, the out-of-memory killer) is reported as that trial's failure
and nothing else is lost. Each trial process

- uses ONE BLAS thread: N processes on N cores beat one process with N threads for the
  small matrices of these models, and never oversubscribe the machine;
- ends itself when the search process dies, however it dies (a thread waits on the
  multiprocessing parent sentinel, which the kernel closes with the parent);
- takes the first Ctrl-C (SIGINT) as KeyboardInterrupt and ignores further ones, so an
  interrupted trial stops cleanly, keeping the checkpoint of its last finished epoch.

What the search does when something goes wrong is documented in ``run_trials``.
"""
from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import threading
from multiprocessing.connection import wait
from pathlib import Path
from typing import Callable, NamedTuple

from threadpoolctl import threadpool_limits

TrialFn = Callable[[dict, str], None]
STOP_SECONDS = 30  # how long an interrupted trial gets to stop before it is killed


class TrialFailed(RuntimeError):
    """A trial's process ended without finishing the trial and without an exception to show
    (it was killed by a signal, or exited on its own)."""


class Job(NamedTuple):
    name: str
    trial: TrialFn
    settings: dict
    run_dir: str


def run_trials(jobs_list: list[Job], jobs: int, say: Callable[[str], None]) -> None:
    """Run every job, at most ``jobs`` at a time, each in its own process.

    A trial that fails (raises, or its process dies) stops the search: no further trial
    starts, the running ones finish, then the failure is raised: the trial's own exception,
    or TrialFailed naming the trial and the signal that killed it. Ctrl-C stops the running
    trials at once and raises KeyboardInterrupt. Either way every trial process has ended
    when this returns or raises.
    """
    waiting, running = list(jobs_list), {}
    failure = None
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                job = waiting.pop(0)
                running.update(_start(job))
            for sentinel in wait(list(running)):
                job, process, receive = running.pop(sentinel)
                error = _outcome(job, process, receive)
                if error is None:
                    say(f"finished {job.name}")
                elif failure is None:
                    failure = error
                    waiting.clear()
    except BaseException:
        _stop(running.values())
        raise
    if failure is not None:
        raise failure


def _start(job: Job) -> dict:
    receive, send = multiprocessing.Pipe(duplex=False)
    process = multiprocessing.Process(target=_trial_process, args=(job, send), name=f"trial {job.name}")
    process.start()
    send.close()
    return {process.sentinel: (job, process, receive)}


def _outcome(job: Job, process: multiprocessing.Process, receive) -> BaseException | None:
    """None when the trial finished; else its exception, or TrialFailed saying how its process ended."""
    process.join()
    try:
        return receive.recv() if receive.poll() else _died(job, process.exitcode)
    except EOFError:
        return _died(job, process.exitcode)
    finally:
        receive.close()


def _died(job: Job, exitcode: int) -> TrialFailed:
    how = (f"was killed by {signal.Signals(-exitcode).name}" if exitcode < 0
           else f"exited with status {exitcode}")
    return TrialFailed(f"trial {job.name} failed: its process {how} before the trial finished "
                       f"(run directory {job.run_dir}); running the same search again retries it, "
                       "from its last epoch checkpoint")


def _stop(running) -> None:
    """Interrupt the running trial processes (SIGINT: they keep their last checkpoint) and wait
    for them; kill those still running after STOP_SECONDS."""
    for job, process, _ in running:
        if process.is_alive():
            os.kill(process.pid, signal.SIGINT)
    for job, process, receive in running:
        process.join(STOP_SECONDS)
        if process.is_alive():
            process.kill()
            process.join()
        receive.close()


# -- inside a trial process --------------------------------------------------------------------------------------
def _trial_process(job: Job, send) -> None:
    _end_with_parent()
    signal.signal(signal.SIGINT, _interrupt_once)
    threadpool_limits(limits=1)  # for the rest of this process's life
    try:
        Path(job.run_dir).mkdir(parents=True, exist_ok=True)
        job.trial(job.settings, job.run_dir)
    except BaseException as err:  # noqa: BLE001 (sent to the parent, which raises it)
        send.send(_picklable(err))
        raise SystemExit(1) from None
    send.send(None)


def _end_with_parent() -> None:
    """Exit this process as soon as the process that started it is gone."""
    sentinel = multiprocessing.parent_process().sentinel

    def watch() -> None:
        wait([sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()


def _interrupt_once(signum, frame) -> None:
    """The first SIGINT raises KeyboardInterrupt; later ones (the parent passing Ctrl-C on) are ignored."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.default_int_handler(signum, frame)


def _picklable(err: BaseException) -> BaseException:
    """``err`` itself when it survives pickling, else a RuntimeError with its type and message."""
    try:
        pickle.loads(pickle.dumps(err))
        return err
    except Exception:  # noqa: BLE001 (any pickling failure)
        return RuntimeError(f"{type(err).__name__}: {err}")
