"""Grid search: parsing, parallel workers with one BLAS thread, resuming, sorting, the CLI."""
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from threadpoolctl import threadpool_info

from conftest import dataset_dir
from scratchnet.cli import main
from scratchnet.experiments import grid


def sleepy_trial(settings: dict, run_dir: str) -> None:
    """A picklable stand-in for training: records its process, timing and BLAS threads."""
    start = time.time()
    with open(Path(run_dir).parent.parent / "started.txt", "a", encoding="utf-8") as f:
        f.write(Path(run_dir).name + "\n")
    time.sleep(settings.get("sleep", 0.0))
    with open(Path(run_dir).parent.parent / "calls.txt", "a", encoding="utf-8") as f:
        f.write(Path(run_dir).name + "\n")
    metrics = {"val_loss": settings["x"] ** 2, "val_accuracy": 1 / (1 + settings["x"] ** 2), "pid": os.getpid(),
               "start": start, "end": time.time(),
               "max_blas_threads": max([p["num_threads"] for p in threadpool_info()] or [1])}
    (Path(run_dir) / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")


def failing_trial(settings: dict, run_dir: str) -> None:
    """Raises settings["raise"] (an exception class name) in the first trial, else behaves like sleepy_trial."""
    if settings["x"] == 0:
        raise {"ValueError": ValueError, "KeyboardInterrupt": KeyboardInterrupt}[settings["raise"]]("trial 0 failed")
    sleepy_trial(settings, run_dir)


def test_parse_grid_reads_json_values_and_text():
    assert grid.parse_grid(["lr=1e-3,3e-4", "model=cnn3-128-0.1,mlp2", "batch_size=32,full"]) == {
        "lr": [0.001, 0.0003], "model": ["cnn3-128-0.1", "mlp2"], "batch_size": [32, "full"]}


@pytest.mark.parametrize("entries", [["lr"], ["=1,2"], ["lr="], ["lr=1", "lr=2"]])
def test_parse_grid_rejects_malformed_entries(entries):
    with pytest.raises(ValueError, match="lr=|KEY=VALUE"):
        grid.parse_grid(entries)


def test_expand_takes_every_combination_on_top_of_the_base():
    trials = grid.expand({"epochs": 3, "lr": 1.0}, {"lr": [0.1, 0.2], "model": ["a", "b/c"]})
    assert [t.name for t in trials] == ["lr-0.1_model-a", "lr-0.1_model-b-c", "lr-0.2_model-a", "lr-0.2_model-b-c"]
    assert trials[1].settings == {"epochs": 3, "lr": 0.1, "model": "b/c"}
    assert trials[1].grid_values == {"lr": 0.1, "model": "b/c"}


def test_trials_run_in_parallel_workers_with_one_blas_thread_and_sorted_results(tmp_path):
    trials = grid.expand({"sleep": 1.0}, {"x": [2, -1, 3]})
    rows = grid.run_grid(trials, tmp_path, jobs=2, trial=sleepy_trial, progress=None)
    assert [row["x"] for row in rows] == [-1, 2, 3]  # val_loss = x² ascending
    first, second = (r for r in rows if r["x"] in (2, -1))
    assert first["pid"] != second["pid"]
    assert first["start"] < second["end"] and second["start"] < first["end"]  # they overlapped in time
    assert all(row["max_blas_threads"] == 1 for row in rows)
    with (tmp_path / grid.RESULTS).open(newline="") as f:
        assert [int(r["x"]) for r in csv.DictReader(f)] == [-1, 2, 3]


def test_finished_trials_are_skipped_on_rerun(tmp_path):
    trials = grid.expand({}, {"x": [1, 2]})
    grid.run_grid(trials[:1], tmp_path, jobs=1, trial=sleepy_trial, progress=None)
    messages = []
    rows = grid.run_grid(trials, tmp_path, jobs=2, trial=sleepy_trial, progress=messages.append)
    assert (tmp_path / "calls.txt").read_text().split() == ["x-1", "x-2"]  # x-1 ran once only
    assert messages[0].startswith("skipping 1 finished trial")
    assert len(rows) == 2


def test_sort_rows_puts_the_best_first_for_accuracy_and_errors_on_a_missing_metric():
    rows = [{"trial": "a", "val_accuracy": 0.5}, {"trial": "b", "val_accuracy": 0.9}]
    assert [r["trial"] for r in grid.sort_rows(rows, "val_accuracy")] == ["b", "a"]
    with pytest.raises(ValueError, match="metric 'val_loss' is missing.*val_accuracy"):
        grid.sort_rows(rows, "val_loss")


def test_format_table_aligns_columns():
    text = grid.format_table([{"trial": "long-name", "loss": 0.25}, {"trial": "b", "loss": 12.5}])
    lines = text.splitlines()
    assert lines[0].split() == ["trial", "loss"]
    assert len({len(line) for line in lines}) == 1  # numbers right-aligned to one width
    assert lines[3].endswith("12.5") and lines[2].startswith("long-name")


def test_search_command_trains_a_grid_and_prints_the_sorted_table(tmp_path, capsys):
    root = dataset_dir("fashion-mnist").parent
    args = ["search", "--set", "dataset=fashion-mnist", "--set", f"root={root}", "--set", "model=ann-juan",
            "--set", "epochs=1", "--set", "train_subset=300", "--set", "val_size=100", "--set", "test_subset=100",
            "--grid", "lr=1e-3,1e-9", "--metric", "val_accuracy", "--jobs", "2", "--out", str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("trial "))
    assert header.split()[:3] == ["trial", "lr", "val_accuracy"]
    with (tmp_path / grid.RESULTS).open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["lr"]) for r in rows] == [1e-3, 1e-9]  # a real learning rate beats a frozen net
    assert float(rows[0]["val_accuracy"]) > float(rows[1]["val_accuracy"])
    config = json.loads((Path(rows[0]["run_dir"]) / "config.json").read_text())
    assert config["threads"] == 1


def test_search_command_rejects_a_bad_setting_before_running(tmp_path, capsys):
    assert main(["search", "--grid", "optimizer=sgd,nope", "--out", str(tmp_path)]) == 2
    assert "trial optimizer-nope: optimizer must be one of" in capsys.readouterr().err
    assert not (tmp_path / "trials").exists()


def ran(folder: Path, log: str = "calls.txt") -> list[str]:
    """The trials sleepy_trial finished (calls.txt) or started (started.txt), in order."""
    path = folder / log
    return path.read_text().split() if path.exists() else []


@pytest.mark.parametrize("error", [ValueError, KeyboardInterrupt])
def test_a_failing_or_interrupted_trial_stops_the_search(tmp_path, error):
    trials = grid.expand({"raise": error.__name__, "sleep": 0.5}, {"x": [0, 1, 2, 3, 4, 5]})
    messages = []
    with pytest.raises(error, match="trial 0 failed"):
        grid.run_grid(trials, tmp_path, jobs=1, trial=failing_trial, progress=messages.append)
    # Trial x-1 may start before the parent has seen x-0 fail (it has 0.5 s to notice); none after it.
    assert ran(tmp_path) in ([], ["x-1"])
    assert ("search interrupted" in messages[-1]) == (error is KeyboardInterrupt)


def test_a_failure_stops_the_search_while_an_earlier_trial_still_runs(tmp_path):
    trials = grid.expand({"raise": "ValueError", "sleep": 0.5}, {"x": [5, 0, 1, 2, 3, 4, 6, 7]})
    start = time.time()
    with pytest.raises(ValueError, match="trial 0 failed"):
        grid.run_grid(trials, tmp_path, jobs=2, trial=failing_trial, progress=None)
    # x-5 was running (it finishes); the other worker may start one more trial before the parent notices.
    assert "x-5" in ran(tmp_path) and len(ran(tmp_path)) <= 2
    assert time.time() - start < 2.0


CTRL_C_SEARCH = """
import sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_search import sleepy_trial
from scratchnet.experiments import grid

trials = grid.expand({{"sleep": 60.0}}, {{"x": list(range(6))}})
try:
    grid.run_grid(trials, Path({out!r}), jobs=2, trial=sleepy_trial, progress=lambda m: print(m, flush=True))
except KeyboardInterrupt:
    print("stopped", flush=True)
"""


def test_ctrl_c_stops_a_running_search_at_once(tmp_path):
    code = CTRL_C_SEARCH.format(tests=str(Path(__file__).parent), out=str(tmp_path))
    search = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              start_new_session=True,  # its own process group, as a terminal's Ctrl-C sees it
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert "running 6 trial(s)" in search.stdout.readline()
        deadline = time.time() + 30
        while time.time() < deadline and len(ran(tmp_path, "started.txt")) < 2:
            time.sleep(0.05)  # until both workers are inside their first trial
        os.killpg(search.pid, signal.SIGINT)
        sent = time.time()
        output = search.communicate(timeout=90)[0]
    finally:
        search.kill()
    # Not after the 60 s trials, let alone the queued ones; the margin allows for a loaded machine.
    assert time.time() - sent < 20.0
    assert "search interrupted: run the same command again" in output and "stopped" in output
    assert ran(tmp_path) == []  # the two running trials were interrupted before finishing
    assert sorted(ran(tmp_path, "started.txt")) == ["x-0", "x-1"]  # and no other trial started


def suicidal_trial(settings: dict, run_dir: str) -> None:
    """Trial x=0 kills its own process with SIGKILL (a real kill -9), the others behave like sleepy_trial."""
    if settings["x"] == 0:
        os.kill(os.getpid(), signal.SIGKILL)
    sleepy_trial(settings, run_dir)


def killed_trial(settings: dict, run_dir: str) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_trial_whose_process_is_killed_is_reported_as_failed_and_stops_the_search(tmp_path):
    trials = grid.expand({"sleep": 0.5}, {"x": [5, 0, 1, 2, 3]})
    with pytest.raises(grid.TrialFailed, match=r"trial x-0 failed: its process was killed by SIGKILL .*again retries"):
        grid.run_grid(trials, tmp_path, jobs=2, trial=suicidal_trial, progress=None)
    assert ran(tmp_path) == ["x-5"]  # the running trial finished, no other started


def test_the_search_command_reports_a_killed_trial_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(grid, "train_trial", killed_trial)
    assert main(["search", "--grid", "seed=0", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("scratchnet search: error: trial seed-0 failed: its process was killed by SIGKILL")
    assert "Traceback" not in err and "BrokenProcessPool" not in err


PID_TRIAL_SEARCH = """
import os, sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from scratchnet.experiments import grid

def pid_trial(settings, run_dir):
    (Path(run_dir) / "pid").write_text(str(os.getpid()))
    time.sleep(600)

if __name__ == "__main__":
    grid.run_grid(grid.expand({{}}, {{"x": [1, 2, 3]}}), Path({out!r}), jobs=2, trial=pid_trial, progress=None)
"""


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc (Linux)")
def test_trial_processes_end_when_the_search_is_killed_with_sigkill(tmp_path):
    script = tmp_path / "search.py"
    script.write_text(PID_TRIAL_SEARCH.format(tests=str(Path(__file__).parent), out=str(tmp_path)))
    search = subprocess.Popen([sys.executable, str(script)])
    try:
        deadline = time.time() + 60
        pids = []
        while time.time() < deadline and len(pids) < 2:
            pids = [int(p.read_text()) for p in tmp_path.glob("trials/*/pid") if p.read_text()]
            time.sleep(0.05)
        assert len(pids) == 2 and all(alive(pid) for pid in pids)
        search.kill()
        search.wait()
        deadline = time.time() + 30  # a bound for a hung test, not a timing assertion
        while time.time() < deadline and any(alive(pid) for pid in pids):
            time.sleep(0.05)
        assert not any(alive(pid) for pid in pids)
    finally:
        search.kill()
        for pid in [int(p.read_text()) for p in tmp_path.glob("trials/*/pid") if p.read_text()]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_the_ray_backend_without_ray_says_what_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError, as when it is not installed
    monkeypatch.setitem(sys.modules, "ray.tune", None)
    assert main(["search", "--grid", "lr=1e-3", "--backend", "ray", "--out", str(tmp_path)]) == 1
    assert "pip install 'scratchnet[ray]'" in capsys.readouterr().err


def test_an_unreachable_ray_address_is_named_within_seconds(tmp_path, capsys):
    pytest.importorskip("ray", reason="Ray is an optional extra (pip install 'scratchnet[ray]'); not installed here")
    start = time.time()
    assert main(["search", "--grid", "lr=1e-3", "--backend", "ray", "--address", "127.0.0.1:1",
                 "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "cannot reach a Ray cluster at 127.0.0.1:1" in err and "ray start --head" in err
    assert time.time() - start < 30  # "within seconds": nothing waits for Ray's own minute-long retries
    assert main(["search", "--grid", "lr=1e-3", "--backend", "ray", "--address", "nowhere",
                 "--out", str(tmp_path)]) == 1
    assert "must be auto or HOST:PORT" in capsys.readouterr().err


def test_an_address_where_something_else_listens_is_named_within_seconds(tmp_path, capsys):
    pytest.importorskip("ray", reason="Ray is an optional extra (pip install 'scratchnet[ray]'); not installed here")
    import socket

    with socket.socket() as server:  # accepts connections (the kernel's backlog) but is no Ray head
        server.bind(("127.0.0.1", 0))
        server.listen()
        address = f"127.0.0.1:{server.getsockname()[1]}"
        start = time.time()
        assert main(["search", "--grid", "lr=1e-3", "--backend", "ray", "--address", address,
                     "--out", str(tmp_path)]) == 1
    assert f"no Ray cluster answers at {address}, though something listens there" in capsys.readouterr().err
    assert time.time() - start < 30  # ray.init alone retries for about half a minute, then waits on


@pytest.mark.parametrize("entry, message", [
    ("lr=loguniform:1e-2", "does not parse; allowed: KEY=V1,V2"),
    ("lr=loguniform:1e-2:1e-4", "LOW < HIGH"),
    ("lr=uniform:a:b", "uniform:LOW:HIGH"),
])
def test_a_search_space_that_does_not_parse_says_what_is_allowed(tmp_path, capsys, entry, message):
    assert main(["search", "--grid", entry, "--backend", "ray", "--search", "optuna", "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_ranges_and_ray_options_need_their_mode(tmp_path, capsys):
    assert main(["search", "--grid", "lr=loguniform:1e-4:1e-2", "--out", str(tmp_path)]) == 2
    assert "needs --search optuna" in capsys.readouterr().err
    assert main(["search", "--grid", "lr=1e-3", "--scheduler", "asha", "--out", str(tmp_path)]) == 2
    assert "--scheduler asha need --backend ray" in capsys.readouterr().err


def test_an_unwritable_out_is_refused_before_any_trial(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert main(["search", "--grid", "lr=1e-3", "--out", str(tmp_path / "file")]) == 2
    assert f"--out {tmp_path / 'file'}: cannot write there" in capsys.readouterr().err


def test_class_weights_read_as_train_reads_them_in_set_and_grid(tmp_path, capsys):
    assert grid.setting_value("class_weights", "Sandal=2;Bag=3") == {"Sandal": 2.0, "Bag": 3.0}
    assert grid.setting_value("lr", "Sandal=2") == "Sandal=2"
    assert grid.trial_name({"class_weights": {"Sandal": 2.0, "Bag": 0.5}}) == "class_weights-Sandal=2+Bag=0.5"
    # parsed into weights, they reach the config's own check (before: AttributeError on a str)
    assert main(["search", "--set", "class-weight=Sandal=2", "--grid", "class-weight=Sandal=2,Bag=-1",
                 "--out", str(tmp_path)]) == 2
    assert "class weight of 'Bag' must be a number > 0" in capsys.readouterr().err
    assert main(["search", "--set", "class-weight=Sandal", "--grid", "lr=1e-3", "--out", str(tmp_path)]) == 2
    assert "class weight 'Sandal' must look like NAME=WEIGHT, several separated by ';'" in capsys.readouterr().err
    assert not (tmp_path / "trials").exists()


def test_a_config_rejects_class_weights_that_are_not_a_mapping():
    from scratchnet.train import TrainConfig

    with pytest.raises(ValueError, match="class_weights must map class names to weights"):
        TrainConfig(class_weights="Sandal=2").validate()


def test_an_unknown_metric_is_refused_before_any_trial_trains(tmp_path, capsys):
    assert main(["search", "--grid", "lr=1e-3", "--metric", "val_acc", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--metric 'val_acc' is not a column of the results; did you mean 'val_accuracy'" in err
    assert not (tmp_path / "trials").exists()
    grid.check_metric("lr", ["lr"])  # a grid setting is a column too


def test_a_setting_from_another_tool_gets_scratchnets_name_suggested(tmp_path, capsys):
    assert main(["search", "--set", "learning-rate=0.1", "--grid", "epochs=1", "--out", str(tmp_path)]) == 2
    assert "--set 'learning-rate' is not a training setting; did you mean lr?" in capsys.readouterr().err
    assert main(["search", "--grid=--batch=32,64", "--out", str(tmp_path)]) == 2
    assert "--grid '--batch' is not a training setting; did you mean batch_size?" in capsys.readouterr().err
    assert main(["search", "--grid", "epoks=1", "--out", str(tmp_path)]) == 2
    assert "did you mean epochs" in capsys.readouterr().err
    assert not (tmp_path / "trials").exists()


def test_search_help_wraps_its_description_and_keeps_the_examples_a_line_each(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit):
        main(["search", "--help"])
    lines = capsys.readouterr().out.splitlines()
    examples = lines.index("examples:")
    assert max(len(line) for line in lines[:examples]) <= 80
    assert "  scratchnet search --base runs/cnn3/config.json --grid lr=1e-3,3e-4 --out runs/lr" in lines[examples:]


def interrupted_training(run_dir, settings, quiet):
    print(f"\ninterrupted: continue it with: scratchnet train --resume {run_dir}", file=sys.stderr)
    raise KeyboardInterrupt


def failed_training(run_dir, settings, quiet):
    print("a warning before the failure", file=sys.stderr)
    raise ValueError("diverged")


def test_an_interrupted_trial_leaves_the_resume_hint_to_the_search(tmp_path, capsys, monkeypatch):
    import scratchnet.train

    monkeypatch.setattr(scratchnet.train, "fit_or_resume", interrupted_training)
    with pytest.raises(KeyboardInterrupt):
        grid.train_trial({}, str(tmp_path))
    assert capsys.readouterr().err == ""  # no per-trial `train --resume` beside the search's own hint
    monkeypatch.setattr(scratchnet.train, "fit_or_resume", failed_training)
    with pytest.raises(ValueError):
        grid.train_trial({}, str(tmp_path))
    assert capsys.readouterr().err == "a warning before the failure\n"  # anything else is passed on


def test_an_interrupted_search_command_prints_no_bare_interrupted(tmp_path, capsys, monkeypatch):
    from scratchnet.commands import search

    def interrupted(args, base, grid_):
        print("search interrupted: run the same command again to continue it")
        raise KeyboardInterrupt

    monkeypatch.setattr(search, "_search", interrupted)
    assert main(["search", "--grid", "lr=1e-3", "--out", str(tmp_path)]) == 130
    captured = capsys.readouterr()
    assert "search interrupted" in captured.out and "interrupted" not in captured.err
