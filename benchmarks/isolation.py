"""Isolation: one server process per framework, one forked child per measurement.

Each framework (``scratchnet``, ``torch``, ``sklearn``) runs in its own *server* process
(``python benchmarks/isolation.py serve FRAMEWORK``) that imports only that framework (plus
NumPy and threadpoolctl) and then, for every measurement it is asked for, forks a fresh
child. The child limits the thread pools (``threadpoolctl.threadpool_limits(n)``, and
``torch.set_num_threads(n)`` for PyTorch), builds the model, warms up, times a fixed wall
time of steps and reports samples/s and its own peak RSS (``ru_maxrss``). Forking after the
import keeps the import cost out of each measurement while every measurement still has
its own address space, so the peak RSS of one workload is not inflated by another.

The servers measure what a user's machine does: they start without ``OPENBLAS_CORETYPE`` and
``OPENBLAS_L2_SIZE``, which some machines (this project's among them) set to force OpenBLAS
onto other CPU kernels than it would choose; ``keep_environment=True`` (the scripts'
``--keep-environment``) measures with the environment as it is. Nothing outside the
measuring processes changes.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import traceback

from runners import FRAMEWORK_LABELS, MEASUREMENTS, accuracy_epochs
from workloads import REPO

RESULT_PREFIX = "RESULT "
# Variables that override OpenBLAS's own choice of CPU kernels and cache size; users do not set them.
MACHINE_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def measuring_environment(framework: str, keep_environment: bool = False) -> dict[str, str]:
    """The environment of ``framework``'s server: this one without MACHINE_OVERRIDES (unless
    ``keep_environment``), plus the BLAS settings the scratchnet command runs with (runtime.py)."""
    env = {key: value for key, value in os.environ.items() if keep_environment or key not in MACHINE_OVERRIDES}
    if framework == "scratchnet":
        from scratchnet.runtime import blas_environment
        env.update(blas_environment())
    return env


def _measure_in_child(framework: str, request: dict, conn) -> None:
    from threadpoolctl import threadpool_limits

    try:
        with threadpool_limits(limits=request["threads"]):
            result = MEASUREMENTS[request["kind"]](framework, request)
    except Exception as err:  # reported in the table; the benchmark goes on with the next one
        traceback.print_exc()
        result = {"error": f"{type(err).__name__}: {err}"}
    conn.send(result)
    conn.close()


def measure_forked(framework: str, request: dict) -> dict:
    """Run one measurement in a forked child and return its result (or an ``error``)."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_measure_in_child, args=(framework, request, sender))
    child.start()
    sender.close()
    try:
        result = receiver.recv()
    except EOFError:
        result = {"error": "the measuring process died (out of memory?)"}
    child.join()
    return result


def _epochs_in_child(framework: str, request: dict, conn, parent_end) -> None:
    """Train one more epoch each time the parent sends True; stop when it sends False or goes away."""
    from threadpoolctl import threadpool_limits

    parent_end.close()  # the fork copied it; kept open, recv() would never see the parent go away
    with threadpool_limits(limits=request["threads"]):
        epochs = accuracy_epochs(framework, request)
        try:
            while conn.recv():
                conn.send(_next_epoch(epochs, request["max_epochs"]))
        except (EOFError, OSError):  # the server exited (e.g. interrupted): nobody is waiting for an answer
            pass
    conn.close()


def _next_epoch(epochs, max_epochs: int) -> dict:
    """The next epoch's figures, or an ``error`` (reported in the table; the benchmark goes on)."""
    try:
        return next(epochs, {"error": f"no epoch after {max_epochs}"})
    except Exception as err:
        traceback.print_exc()
        return {"error": f"{type(err).__name__}: {err}"}


class EpochSession:
    """A forked child that trains a time-to-accuracy run one epoch per ``next_epoch()``, so the
    parent can alternate frameworks epoch by epoch (load from other processes, which drifts
    over minutes on a shared machine, then hits both alike)."""

    def __init__(self, framework: str, request: dict):
        context = multiprocessing.get_context("fork")
        self.conn, child_end = context.Pipe()
        self.child = context.Process(target=_epochs_in_child, args=(framework, request, child_end, self.conn))
        self.child.start()
        child_end.close()

    def next_epoch(self) -> dict:
        try:
            self.conn.send(True)
            return self.conn.recv()
        except (EOFError, OSError):  # OSError: BrokenPipeError, ConnectionResetError
            return {"error": "the training process died (out of memory?)"}

    def close(self) -> None:
        try:
            self.conn.send(False)
        except OSError:  # it has already exited
            pass
        self.child.join()


def serve(framework: str) -> None:
    """Import ``framework`` once, then answer one JSON request per stdin line with a result line.

    Kinds: ``throughput`` (one forked measurement); ``accuracy-start``, ``accuracy-epoch`` and
    ``accuracy-end`` (an EpochSession: start it, train its next epoch, end it).
    """
    # Ctrl-C reaches the whole process group: this server and its measuring children end at once,
    # without a traceback each, and the parent says it was interrupted (run_main).
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if framework == "sklearn":
        import sklearn.neural_network  # noqa: F401 (imported before forking)
    elif framework == "torch":
        import torch  # noqa: F401
    elif framework == "torch-mallopt":
        import torch  # noqa: F401
        from scratchnet.runtime import keep_freed_memory  # the package's import applies it; say so explicitly
        keep_freed_memory()
    else:
        import scratchnet.nn  # noqa: F401
    session = None
    for line in sys.stdin:
        request = json.loads(line)
        kind = request["kind"]
        if kind == "accuracy-start":
            if session is not None:
                session.close()
            session, result = EpochSession(framework, request), {}
        elif kind in ("accuracy-epoch", "accuracy-end") and session is None:
            result = {"error": f"{kind} without a time-to-accuracy run; send accuracy-start first"}
        elif kind == "accuracy-epoch":
            result = session.next_epoch()
        elif kind == "accuracy-end":
            session.close()
            session, result = None, {}
        else:
            result = measure_forked(framework, request)
        print(RESULT_PREFIX + json.dumps(result), flush=True)


class Server:
    """The parent's handle on one framework's server process."""

    def __init__(self, framework: str, keep_environment: bool = False):
        self.framework = framework
        env = measuring_environment(framework, keep_environment)
        self.process = subprocess.Popen([sys.executable, __file__, "serve", framework], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, cwd=REPO, env=env)

    def request(self, request: dict) -> dict:
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        except OSError:  # BrokenPipeError: it has exited
            return {"error": f"the {self.framework} server exited with code {self.process.wait()}"}
        for line in self.process.stdout:  # other output (a library's print) is skipped
            if line.startswith(RESULT_PREFIX):
                return json.loads(line[len(RESULT_PREFIX):])
        return {"error": f"the {self.framework} server exited with code {self.process.wait()}"}

    def close(self) -> None:
        try:
            self.process.stdin.close()
        except OSError:  # it has exited with a request unread
            pass
        self.process.wait()


class Servers:
    """One server per framework, started on first use and shared by every measurement."""

    def __init__(self, keep_environment: bool = False):
        self._servers: dict[str, Server] = {}
        self.keep_environment = keep_environment

    def request(self, framework: str, request: dict) -> dict:
        if framework not in self._servers:
            self._servers[framework] = Server(framework, self.keep_environment)
        return self._servers[framework].request(request)

    def __enter__(self) -> "Servers":
        return self

    def __exit__(self, *exc) -> None:
        for server in self._servers.values():
            server.close()


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "serve" or sys.argv[2] not in FRAMEWORK_LABELS:
        raise SystemExit("usage: python benchmarks/isolation.py serve {scratchnet,torch,torch-mallopt,sklearn} "
                         "(started by benchmarks/engine.py and benchmarks/performance.py)")
    serve(sys.argv[2])
