"""The run directory under real faults: concurrent runs, kill -9, a full disk, planted symlinks."""
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from builders import small_tmpfs
from conftest import dataset_dir

from scratchnet.cli import main
from scratchnet.train import TrainConfig, fit, load_model
from scratchnet.train.checkpoint import load_checkpoint
from scratchnet.train.runfiles import (DiskFullError, RunBusyError, atomic_file, claim, read_predictions,
                                       write_text_atomic)

REPO = Path(__file__).resolve().parents[1]


def tiny(out, **settings) -> TrainConfig:
    values = dict(dataset="mnist", root=str(dataset_dir("mnist-10k")), model="mlp2-32-16", epochs=2,
                  train_subset=300, val_size=100, test_subset=100, batch_size=50, threads=1, out=str(out))
    return TrainConfig(**{**values, **settings})


def python(code: str, **popen) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", code], env=env, text=True, **popen)


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "scratchnet", *args], env=env, capture_output=True, text=True,
                          timeout=300)


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# -- claiming ----------------------------------------------------------------------------------------------------
def test_two_trains_into_one_directory_started_together_one_wins(tmp_path):
    out = tmp_path / "same"
    base = ["train", "--dataset", "mnist", "--root", str(dataset_dir("mnist-10k")), "--epochs", "1",
            "--train-subset", "300", "--val-size", "100", "--test-subset", "100", "--threads", "1", "--quiet",
            "--no-report", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    runs = [subprocess.Popen([sys.executable, "-m", "scratchnet", *base, "--model", model], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE) for model in ("mlp2-32-16", "mlp2-64-32")]
    results = [(run.wait(timeout=300), run.communicate()[1]) for run in runs]
    assert sorted(code for code, _ in results) == [0, 2], results
    loser = next(err for code, err in results if code == 2)
    # The holder writes its pid just after taking the lock; a loser that comes in between reads
    # "another process". Both are the busy error.
    assert "which is training into it" in loser or "already holds a run" in loser, loser
    config = json.loads((out / "config.json").read_text())
    assert json.loads((out / "metrics.json").read_text())["model"] == config["model"]
    assert load_model(out).model.num_parameters() == json.loads((out / "metrics.json").read_text())["num_parameters"]


HOLD = """
import sys, time
from scratchnet.train.runfiles import claim
with claim(sys.argv[1]):
    print("claimed", flush=True)
    time.sleep(600)
"""


def test_a_claim_is_exclusive_and_dies_with_its_process(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "run")], text=True,
                              stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert holder.stdout.readline().strip() == "claimed"
        with pytest.raises(RunBusyError, match=rf"in use by process {holder.pid} on "):
            with claim(tmp_path / "run"):
                pass
        with pytest.raises(RunBusyError):
            fit(tiny(tmp_path / "run"), quiet=True)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with claim(tmp_path / "run"):  # the kernel dropped the dead process's lock
        assert (tmp_path / "run" / ".scratchnet.lock").read_text().startswith(f"process {os.getpid()} ")


def test_a_claim_on_a_file_or_an_unwritable_folder_says_so(tmp_path):
    (tmp_path / "file").write_text("x")
    assert main(["train", "--out", str(tmp_path / "file")]) == 2
    if os.geteuid() != 0:  # root writes anywhere
        (tmp_path / "locked").mkdir(mode=0o500)
        with pytest.raises(ValueError, match="cannot write into .*locked"):
            with claim(tmp_path / "locked" / "run"):
                pass


# -- a run killed between its last checkpoint and its model file --------------------------------------------------
KILL_AFTER_LAST_CHECKPOINT = """
import os, signal, sys
from scratchnet.train import TrainConfig, fit
config = TrainConfig.from_dict({config})
fit(config, quiet=True,
    on_epoch_end=lambda row: row["epoch"] == config.epochs and os.kill(os.getpid(), signal.SIGKILL))
"""


def test_resume_finishes_a_run_killed_after_its_last_checkpoint(tmp_path):
    config = tiny(tmp_path / "killed")
    killed = python(KILL_AFTER_LAST_CHECKPOINT.format(config=config.to_dict()))
    assert killed.wait(timeout=300) == -signal.SIGKILL
    run = tmp_path / "killed"
    assert load_checkpoint(run / "checkpoint.npz").epoch == 2 and not (run / "model.npz").exists()
    assert main(["train", "--resume", str(run), "--quiet", "--no-report"]) == 0
    assert main(["evaluate", str(run)]) == 0
    straight = fit(tiny(tmp_path / "straight"), quiet=True)
    finished = load_model(run).model.state_dict()
    for key, value in straight.model.state_dict().items():
        np.testing.assert_array_equal(finished[key], value, err_msg=key)
    assert json.loads((run / "metrics.json").read_text())["test_accuracy"] == straight.metrics["test_accuracy"]


# -- atomic writes -------------------------------------------------------------------------------------------------
def test_atomic_file_fsyncs_before_renaming_and_applies_the_umask_without_changing_it(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append("replace"), real_replace(a, b))[1])
    old = os.umask(0o027)
    try:
        monkeypatch.setattr(os, "umask", lambda mask: pytest.fail("os.umask races with other threads"))
        write_text_atomic(tmp_path / "a.txt", "hello")
    finally:
        monkeypatch.undo()
        os.umask(old)
    assert calls[:2] == ["fsync", "replace"]
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path):
    write_text_atomic(tmp_path / "a.txt", "old")
    with pytest.raises(RuntimeError):
        with atomic_file(tmp_path / "a.txt", "w") as f:
            f.write("half")
            raise RuntimeError("crash")
    assert (tmp_path / "a.txt").read_text() == "old" and len(list(tmp_path.iterdir())) == 1


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("finished") / "run"
    fit(tiny(out, epochs=1), quiet=True)
    return out


def test_evaluate_and_report_replace_planted_symlinks_instead_of_writing_through_them(finished_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    victims = tmp_path / "victims"
    victims.mkdir()
    for name in ("report.html", "curves.png", "test_predictions.npz"):
        (victims / name).write_text("precious")
        if (run / name).exists():
            (run / name).unlink()
        (run / name).symlink_to(victims / name)
    assert main(["evaluate", str(run)]) == 0
    assert main(["report", str(run)]) == 0
    assert all((victims / name).read_text() == "precious" for name in ("report.html", "curves.png",
                                                                       "test_predictions.npz"))
    assert not any((run / name).is_symlink() for name in ("report.html", "curves.png", "test_predictions.npz"))
    assert read_predictions(run / "test_predictions.npz")[0].shape == (100,)


# -- a full disk ---------------------------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB tmpfs mounted for the test (skipped where this user may not mount)."""
    with small_tmpfs(tmp_path / "disk", "3m") as disk:
        yield disk


def fill(disk: Path) -> None:
    with open(disk / "filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass


def test_a_full_disk_gives_one_clear_message_and_keeps_every_old_file(finished_run, small_disk):
    run = small_disk / "run"
    shutil.copytree(finished_run, run)
    fill(small_disk)
    before = files(run)
    for command in (["evaluate", str(run)], ["report", str(run)]):
        result = cli(*command)
        assert result.returncode == 1, result.stderr
        assert "no space left on the device to write" in result.stderr and "Traceback" not in result.stderr
        assert result.stderr.strip().splitlines()[-1].startswith(f"scratchnet {command[0]}: error: no space left")
        assert files(run) == before  # the old files, byte for byte, and no temporary file
    result = cli("train", "--dataset", "mnist", "--root", str(dataset_dir("mnist-10k")), "--model", "mlp2-32-16",
                 "--epochs", "1", "--train-subset", "300", "--val-size", "100", "--test-subset", "100", "--quiet",
                 "--out", str(small_disk / "new"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "no space left on the device to write" in result.stderr


def test_disk_full_error_names_the_file(small_disk):
    write_text_atomic(small_disk / "a.txt", "old")
    fill(small_disk)
    with pytest.raises(DiskFullError, match=r"a\.txt \(the previous file is kept\)") as caught:
        write_text_atomic(small_disk / "a.txt", "x" * 1_000_000)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert (small_disk / "a.txt").read_text() == "old"
