"""`scratchnet reproduce`: the list, every experiment's quick path, the comparison table, missing data."""
import json
import sys

import numpy as np
import pytest

from builders import write_cifar_folder
from conftest import dataset_dir
from scratchnet.cli import main
from scratchnet.experiments import EXPERIMENTS, compare, procedures, run_experiment
from scratchnet.experiments.context import find_data


@pytest.fixture(scope="module")
def shared_root():
    """The folder holding fashion-mnist and mnist-10k (MNIST experiments fall back to mnist-10k)."""
    dataset_dir("mnist-10k")
    return str(dataset_dir("fashion-mnist").parent)


@pytest.fixture
def no_data_anywhere(tmp_path, monkeypatch):
    """Hide every dataset: empty $SCRATCHNET_DATA, user cache and workspace folder (Debian's has no CIFAR-10)."""
    monkeypatch.setenv("SCRATCHNET_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr("scratchnet.data.locate.WORKSPACE_DATASETS", tmp_path / "no-workspace")


@pytest.fixture(scope="module")
def quick_run(shared_root, tmp_path_factory):
    """``quick_run(id)``: run experiment ``id`` --quick through the CLI once per module; (out dir, stdout)."""
    done = {}

    def run(experiment_id, capsys):
        if experiment_id not in done:
            out = tmp_path_factory.mktemp("quick") / experiment_id
            capsys.readouterr()
            code = main(["reproduce", experiment_id, "--quick", "--root", shared_root, "--out", str(out), "--jobs", "2"])
            assert code == 0
            done[experiment_id] = (out, capsys.readouterr().out)
        return done[experiment_id]

    return run


def comparison(out):
    return json.loads((out / compare.JSON).read_text())


def test_list_prints_one_line_per_experiment(capsys):
    assert main(["reproduce", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["EXPERIMENT", "SEED"] and "TIME ON 2 CORES" in lines[0]
    assert [line.split()[0] for line in lines[1:9]] == list(EXPERIMENTS)
    assert len(EXPERIMENTS) == 8
    grid = next(line for line in lines if line.startswith("fashion-cnn-grid"))
    assert "about 4 h with --jobs 2" in grid  # the long ones say so before anyone starts them


def test_unknown_experiment_is_a_usage_error(capsys):
    assert main(["reproduce", "nope"]) == 2
    assert "unknown experiment 'nope'" in capsys.readouterr().err


@pytest.mark.filterwarnings("error::UserWarning")  # e.g. scikit-learn's ConvergenceWarning reaching the user
@pytest.mark.parametrize("experiment_id", ["cnet-mlp", "conv1-mnist", "conv2-fashion", "mlp6-vs-sklearn",
                                           "mlp2-dropout", "fashion-cnn-grid"])
def test_quick_run_writes_the_comparison_on_real_data(experiment_id, quick_run, capsys):
    out, printed = quick_run(experiment_id, capsys)
    record = comparison(out)
    figures = EXPERIMENTS[experiment_id].figures
    assert [row["key"] for row in record["rows"]] == [f.key for f in figures]
    assert [row["reported"] for row in record["rows"]] == [
        list(f.value) if isinstance(f.value, tuple) else f.value for f in figures]
    measured = [row for row in record["rows"] if row["measured"] is not None]
    assert measured and all(row["measured_text"] != "not measured" for row in measured)
    data = "Fashion-MNIST" if "fashion" in experiment_id else "MNIST 10k subset"
    assert data in record["measured_on"] and "QUICK: 600 training images" in record["measured_on"]
    assert printed.startswith(f"# {experiment_id} ") and (out / compare.MARKDOWN).read_text() in printed


def test_mlp2_dropout_writes_curves_weights_and_the_batch_sweep(quick_run, capsys):
    tmp_path, _ = quick_run("mlp2-dropout", capsys)
    for name in ("curves.png", "batch_sizes.png", "weights.png", "weights_dropout.png", "settings.txt"):
        assert (tmp_path / name).stat().st_size > 0, name
    sweep = (tmp_path / "settings.txt").read_text()
    assert all(f"batch {b}, lr {procedures.sweep_lr(b):.3g}" in sweep for b in procedures.QUICK_BATCH_SIZES)
    assert (tmp_path / "batch-8-lr0.05").is_dir()  # 0.1 * sqrt(8 / 32)
    assert "one hidden layer (256)" in sweep and "seconds_per_epoch" in sweep


def test_rerun_reads_finished_runs_back_instead_of_training(quick_run, shared_root, capsys):
    out, first = quick_run("conv2-fashion", capsys)
    metrics = out / "conv2" / "metrics.json"
    before = metrics.stat().st_mtime_ns
    assert run_experiment("conv2-fashion", out, quick=True, root=shared_root, quiet=True) in first
    assert metrics.stat().st_mtime_ns == before


def test_fashion_grid_quick_fills_tables_for_the_models_it_ran(quick_run, capsys):
    tmp_path, _ = quick_run("fashion-cnn-grid", capsys)
    rows = {row["key"]: row for row in comparison(tmp_path)["rows"]}
    assert rows["cnn3-128-0.1/val_accuracy"]["measured"] is not None
    assert rows["cnn5-512-0.1/val_accuracy"]["measured_text"] == "not measured"
    for role in ("chosen", "cnn-nahuel", "ann-juan"):
        assert 0 <= rows[f"{role}/test_accuracy"]["measured"] <= 1
    tables = (tmp_path / "tables.txt").read_text()
    assert "Table I" in tables and "Table II" in tables and "ann-juan" in tables


def test_cifar_experiments_on_generated_binary_files_and_side_by_side(tmp_path, no_data_anywhere):
    write_cifar_folder(tmp_path / "datasets" / "cifar-10", n_per_batch=130, n_test=200)
    root = str(tmp_path / "datasets")
    run_experiment("cifar-dense10k", tmp_path / "runs" / "cifar-dense10k", quick=True, root=root, quiet=True)
    text = run_experiment("cifar-lenet5", tmp_path / "runs" / "cifar-lenet5", quick=True, root=root, quiet=True)
    rows = {row["key"]: row for row in comparison(tmp_path / "runs" / "cifar-lenet5")["rows"]}
    assert rows["model_bytes"]["reported_text"] == "245 KB" and rows["model_bytes"]["measured"] > 0
    measured_on = comparison(tmp_path / "runs" / "cifar-lenet5")["measured_on"]
    assert "CIFAR-10 partial subset" in measured_on and "test set may not be CIFAR-10's official one" in measured_on
    config = json.loads((tmp_path / "runs" / "cifar-lenet5" / "lenet5" / "config.json").read_text())
    train_images = min(config["train_subset"], 650)
    val_images = round(train_images * config["val_size"]) if isinstance(config["val_size"], float) else config["val_size"]
    assert f"{train_images - val_images:,} / {val_images:,} train / validation split" in measured_on
    assert "45,000" not in text and "10 % of the training images" not in text  # quick runs hold out 100 images
    side = tmp_path / "runs" / "cifar-lenet5" / "vs-cifar-dense10k"
    for name in ("error_curves.png", "confusion_dense10k.png", "confusion_lenet5.png", "comparison.txt"):
        assert (side / name).stat().st_size > 0, name
    assert "dense10k" in text and "LeNet-5" in text


def test_missing_cifar_says_how_to_get_it(tmp_path, no_data_anywhere, capsys):
    assert main(["reproduce", "cifar-lenet5", "--quick", "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "dataset 'cifar-10' was not found" in err
    assert "cifar-10-binary.tar.gz" in err and "scratchnet datasets download cifar-10" in err


def test_missing_mnist_mentions_the_10k_stand_in(tmp_path, no_data_anywhere, monkeypatch):
    monkeypatch.setattr("scratchnet.data.locate.DEBIAN_DATASETS", tmp_path / "none")
    with pytest.raises(RuntimeError, match="mnist-10k next to each of those places: not found"):
        find_data("mnist", str(tmp_path))


def test_mnist_falls_back_to_the_10k_subset(shared_root, no_data_anywhere):
    assert find_data("mnist", shared_root).endswith("mnist-10k")


def test_mlp6_without_scikit_learn_says_how_to_install_it(shared_root, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.neural_network", None)
    with pytest.raises(RuntimeError, match=r"pip install 'scratchnet\[sklearn\]'"):
        run_experiment("mlp6-vs-sklearn", tmp_path, quick=True, root=shared_root, quiet=True)


def test_comparison_rows_format_each_kind():
    figures = (compare.Figure("acc", "accuracy", 0.9403, "percent"), compare.Figure("t", "time", 3254, "seconds"),
               compare.Figure("size", "size", 90e6, "bytes"), compare.Figure("p", "precision", (0.9, 0.86), "list"),
               compare.Figure("e", "epoch", None, "epoch"), compare.Figure("gone", "absent", 1.0, "loss"),
               compare.Figure("r", "mean recall", 0.882, "score"))
    rows = compare.comparison_rows(figures, {"acc": 0.95, "t": 12.25, "size": 245e3, "p": (0.91, 0.8), "e": 13,
                                             "r": 0.74553})
    assert [(r["reported_text"], r["measured_text"]) for r in rows] == [
        ("94.03 %", "95.00 %"), ("3254 s (54.2 min)", "12.2 s"), ("90.0 MB", "245 KB"), ("0.90 0.86", "0.91 0.80"),
        ("not reported", "epoch 13"), ("1", "not measured"), ("0.882", "0.746")]
    text = compare.to_markdown("title", "MNIST", "MNIST 10k subset", rows, ["a note"])
    assert "| accuracy | 94.03 % | 95.00 % |" in text and "- measured on: MNIST 10k subset" in text


def test_figure_rejects_an_unknown_kind():
    with pytest.raises(ValueError, match="kind must be one of"):
        compare.Figure("k", "label", 1.0, "furlongs")


def test_precision_and_recall_from_the_normalised_confusion_matrix():
    confusion = np.array([[8, 2], [10, 90]])  # class 0 has 10 samples, class 1 has 100
    precision, recall = procedures._normalised_scores(confusion)
    np.testing.assert_allclose(recall, [0.8, 0.9])
    np.testing.assert_allclose(precision, [0.8 / 0.9, 0.9 / 1.1])  # counts would give 8/18 for class 0


def test_conv1_reports_the_median_seed_and_lists_every_seed(quick_run, capsys):
    out, _ = quick_run("conv1-mnist", capsys)
    accuracies = {seed: json.loads((out / name / "metrics.json").read_text())["test_accuracy"]
                  for seed, name in ((0, "conv1"), (1, "conv1-seed1"))}
    median = min(accuracies, key=accuracies.get)  # the lower median of two
    record = comparison(out)
    measured = {row["key"]: row["measured"] for row in record["rows"]}
    assert measured["test_accuracy"] == accuracies[median]
    assert measured["mean_recall"] == pytest.approx(np.mean(measured["recall"]))
    assert any(note.startswith(f"measured: seed {median}, the median of seeds 0, 1") for note in record["notes"])
    assert any(note.startswith("per seed:") for note in record["notes"])


def test_data_description_gives_the_split_the_run_used_not_a_fixed_one(tmp_path):
    from scratchnet.experiments.context import FinishedRun, data_description

    note = "CIFAR-10 dev copy (test carved from the training set): 40,000 of the 50,000 training images"
    run = FinishedRun(tmp_path, {"dataset": "cifar-10", "dataset_note": note, "train_images": 36_000,
                                 "val_images": 4_000}, [])
    text = data_description(run, quick=False)
    assert text.startswith(note) and "36,000 / 4,000 train / validation split" in text
    for experiment_id in ("cifar-dense10k", "cifar-lenet5"):
        assert not any("45,000" in choice or "50,000" in choice for choice in EXPERIMENTS[experiment_id].choices)
