"""The Ray backend of `scratchnet search`, against a real local Ray cluster started here (one per module).

Tiny trials (a small MLP on a few hundred real MNIST digits) keep each Tune run to seconds.
"""
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import dataset_dir
from test_search import alive

from scratchnet.cli import main

ray = pytest.importorskip("ray", reason="Ray is an optional extra (pip install 'scratchnet[ray]'); not installed here")
REPO = Path(__file__).resolve().parents[1]


def descendants(pid: int) -> set[int]:
    """Every living process below ``pid`` (from /proc), zombies excluded."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


@pytest.fixture(scope="module")
def cluster():
    """A 2-CPU Ray cluster for this module; afterwards, none of its processes may be left running."""
    if not Path("/proc/self/stat").exists():
        pytest.skip("checks for leftover processes through /proc (Linux)")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    address = ray.get_runtime_context().gcs_address
    yield address
    started = descendants(os.getpid())
    ray.shutdown()
    deadline = time.time() + 60  # a bound for a hung shutdown, not a timing assertion
    while time.time() < deadline and any(alive(pid) for pid in started):
        time.sleep(0.2)
    left = {p for p in started if alive(p)}
    assert not left, f"Ray processes still running after the tests: {sorted(left)}"


def search(out, *extra, epochs=2, train_subset=300):
    return ["search", "--set", "dataset=mnist", "--set", f"root={dataset_dir('mnist-10k')}", "--set",
            "model=mlp2-32-16", "--set", f"epochs={epochs}", "--set", f"train_subset={train_subset}",
            "--set", "val_size=100", "--set", "test_subset=100", "--out", str(out), *extra]


def results(out) -> list[dict]:
    with (Path(out) / "results.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def test_ray_results_equal_the_local_backends(cluster, tmp_path, capsys):
    grid = ["--grid", "lr=1e-3,3e-3"]
    assert main(search(tmp_path / "ray", *grid, "--backend", "ray")) == 0
    assert main(search(tmp_path / "local", *grid, "--jobs", "2")) == 0
    table = capsys.readouterr().out
    assert "status" in table.splitlines()[[i for i, line in enumerate(table.splitlines())
                                            if line.startswith("trial ")][0]]
    on_ray, local = results(tmp_path / "ray"), results(tmp_path / "local")
    assert [r["trial"] for r in on_ray] == [r["trial"] for r in local]
    for a, b in zip(on_ray, local):
        assert a["status"] == "finished"
        for column in ("val_loss", "val_accuracy", "test_loss", "test_accuracy", "best_epoch"):
            assert float(a[column]) == float(b[column]), column
        assert json.loads((Path(a["run_dir"]) / "config.json").read_text())["threads"] == 1


def test_asha_stops_a_clearly_worse_trial_and_the_table_says_when(cluster, tmp_path, capsys):
    # 2 CPUs per trial on the 2-CPU cluster: the trials run one after the other, in grid order.
    args = search(tmp_path, "--grid", "lr=3e-3,1e-9", "--backend", "ray", "--scheduler", "asha",
                  "--cpus-per-trial", "2", epochs=4)
    assert main(args) == 0
    out = capsys.readouterr().out
    good, bad = results(tmp_path)
    assert (good["trial"], good["status"]) == ("lr-0.003", "finished")
    assert bad["trial"] == "lr-1e-09" and bad["status"] == "stopped after 1 epoch(s)"
    assert "stopped lr-1e-09 after 1 epoch(s) by ASHA" in out
    assert bad["test_accuracy"] == "" and int(bad["epochs_run"]) == 1
    assert int(good["epochs_run"]) == 4 and good["test_accuracy"] != ""  # not stopped at its last epoch
    assert json.loads((Path(good["run_dir"]) / "config.json").read_text())["threads"] == 2  # --cpus-per-trial


def test_a_failing_trial_is_reported_while_the_others_finish(cluster, tmp_path, capsys):
    assert main(search(tmp_path, "--grid", "lr=1e-3,1e12", "--backend", "ray")) == 1  # lr 1e12 diverges
    captured = capsys.readouterr()
    rows = {row["trial"]: row for row in results(tmp_path)}
    assert rows["lr-0.001"]["status"] == "finished"
    assert rows["lr-1000000000000.0"]["status"].startswith("failed: ")
    assert "the loss became NaN or infinite" in rows["lr-1000000000000.0"]["status"]
    assert "1 trial(s) failed: lr-1000000000000.0" in captured.err


def test_optuna_samples_a_range(cluster, tmp_path):
    args = search(tmp_path, "--grid", "lr=loguniform:1e-4:1e-2", "--backend", "ray", "--search", "optuna",
                  "--trials", "2", epochs=1)
    assert main(args) == 0
    rows = results(tmp_path)
    assert len(rows) == 2 and all(row["trial"].startswith("trial-") and row["status"] == "finished" for row in rows)
    assert all(1e-4 <= float(row["lr"]) <= 1e-2 for row in rows)
    assert len({row["lr"] for row in rows}) == 2


@pytest.fixture
def read_only_trials(tmp_path):
    trials = tmp_path / "out" / "trials"
    trials.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(trials)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here ({mounted.stderr.decode().strip() or 'not root'})")
    yield tmp_path / "out"
    subprocess.run(["umount", "-l", str(trials)], check=True)


def test_trials_that_cannot_write_their_run_directory_say_so(cluster, read_only_trials, capsys):
    # The search folder is writable, its trials/ folder is not (as on a node without the shared folder).
    assert main(search(read_only_trials, "--grid", "lr=1e-3", "--backend", "ray")) == 1
    (row,) = results(read_only_trials)
    assert row["status"].startswith("failed: ") and "cannot write into" in row["status"]
    assert "Read-only file system" in row["status"]


def test_ctrl_c_then_resume_finishes_the_search_without_rerunning_finished_trials(cluster, tmp_path):
    out = tmp_path / "s"
    args = search(out, "--grid", "lr=1e-3,2e-3,3e-3", "--backend", "ray", "--cpus-per-trial", "2",
                  "--address", cluster, epochs=4, train_subset=600)
    driver = subprocess.Popen([sys.executable, "-m", "scratchnet", *args], env={**os.environ, "PYTHONPATH": str(REPO)},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        finished = out / "trials" / "lr-0.001" / "metrics.json"
        deadline = time.time() + 240
        while time.time() < deadline and not finished.exists() and driver.poll() is None:
            time.sleep(0.1)
        assert finished.exists(), "the first trial never finished"
        driver.send_signal(signal.SIGINT)
        output = driver.communicate(timeout=120)[0]
    finally:
        driver.kill()
    assert driver.returncode == 130, output
    assert "search interrupted: run the same command with --resume" in output
    first_finished = finished.stat().st_mtime_ns
    assert not all((out / "trials" / name / "metrics.json").exists() for name in ("lr-0.002", "lr-0.003"))
    assert main(args + ["--resume"]) == 0
    assert [row["status"] for row in results(out)] == ["finished"] * 3
    assert finished.stat().st_mtime_ns == first_finished  # not rerun


def test_a_trial_whose_worker_dies_is_reported_and_resume_continues_it_from_its_checkpoint(cluster, tmp_path):
    out = tmp_path / "s"
    args = search(out, "--grid", "lr=1e-3", "--backend", "ray", "--address", cluster, epochs=30, train_subset=600)
    driver = subprocess.Popen([sys.executable, "-m", "scratchnet", *args], env={**os.environ, "PYTHONPATH": str(REPO)},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    run = out / "trials" / "lr-0.001"
    try:
        deadline = time.time() + 240
        while time.time() < deadline and not (run / "history.csv").exists() and driver.poll() is None:
            time.sleep(0.02)
        holder = (run / ".scratchnet.lock").read_text().split()  # "process PID on HOST": the trial's worker
        os.kill(int(holder[1]), signal.SIGKILL)  # as when its node dies
        output = driver.communicate(timeout=240)[0]
    finally:
        driver.kill()
    assert driver.returncode == 1, output
    (row,) = results(out)
    assert row["status"].startswith("failed: ")
    before = (run / "history.csv").read_text().splitlines()
    assert 2 <= len(before) <= 30  # the header and the epochs finished before the kill
    assert main(args + ["--resume"]) == 0
    assert [row["status"] for row in results(out)] == ["finished"]
    after = (run / "history.csv").read_text().splitlines()
    assert after[:len(before)] == before and len(after) == 31  # continued from the checkpoint, not restarted
