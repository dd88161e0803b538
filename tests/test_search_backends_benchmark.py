"""benchmarks/search_backends.py: the same grid on several search backends, timed, with the best
model of each. The Ray backends themselves are tested in test_search_ray.py; here the script runs
its local backend on a tiny grid, and its summary is checked on rows like Ray + ASHA's."""
import json
import sys
from pathlib import Path

import pytest

from conftest import dataset_dir

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import search_backends  # noqa: E402  (benchmarks/search_backends.py)


def test_the_local_backend_is_timed_and_its_best_model_named(tmp_path, capsys):
    root = dataset_dir("fashion-mnist")
    out = tmp_path / "compare"
    assert search_backends.main(["--out", str(out), "--models", "cnn3-128-0.1,cnn3-128-0.25", "--epochs", "1",
                                 "--subset", "500", "--val", "100", "--root", str(root), "--backends", "local"]) == 0
    report = json.loads((out / "comparison.json").read_text())
    (row,) = report["table"]
    assert row["backend"] == "local --jobs 2" and row["wall_seconds"] > 0 and row["epochs_trained"] == 2
    losses = {r["model"]: float(r["val_loss"]) for r in report["results"][0]["rows"]}
    assert row["best_model"] == min(losses, key=losses.get) and row["stopped"] == 0
    assert report["same_best_model"] and "every backend found the same best model" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="exists"):  # a second measurement never mixes with the first
        search_backends.main(["--out", str(out), "--models", "cnn3-128-0.1", "--epochs", "1", "--subset", "500",
                              "--val", "100", "--root", str(root), "--backends", "local"])


def test_the_summary_counts_stopped_trials_and_their_epochs():
    rows = [{"model": "a", "val_loss": "0.30", "val_accuracy": "0.9", "epochs_run": "10", "status": "finished"},
            {"model": "b", "val_loss": "0.28", "val_accuracy": "0.91", "epochs_run": "10", "status": "finished"},
            {"model": "c", "val_loss": "0.45", "val_accuracy": "0.8", "epochs_run": "1",
             "status": "stopped after 1 epoch(s)"}]
    summary = search_backends.summary({"backend": "Ray + ASHA", "wall_seconds": 12.5, "rows": rows})
    assert summary == {"backend": "Ray + ASHA", "wall_seconds": 12.5, "best_model": "b", "best_val_loss": 0.28,
                       "best_val_accuracy": 0.91, "epochs_trained": 21, "stopped": 1}
