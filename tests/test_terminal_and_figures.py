"""What the command line and the figures show: colour that respects NO_COLOR, progress while
scoring, the run's ETA, runs/latest, counts with thousands separators, readable axes and legends."""
import io
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, dataset_dir
from matplotlib.figure import Figure

from scratchnet import terminal
from scratchnet.cli import main
from scratchnet.report import dataset_plots, plots


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert terminal.paint("best", "green", Terminal()) == "\033[32mbest\033[0m"
    assert terminal.paint("best", "green", io.StringIO()) == "best"  # a pipe or a file
    monkeypatch.setenv("NO_COLOR", "1")
    assert terminal.paint("best", "green", Terminal()) == "best"
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert terminal.paint("best", "green", io.StringIO()).startswith("\033[32m")


def test_counts_and_durations_read_naturally():
    assert terminal.plural(1, "epoch") == "1 epoch" and terminal.plural(10_000, "image") == "10,000 images"
    assert terminal.format_duration(192) == "3 min 12 s" and terminal.format_duration(3 * 3600 + 300) == "3 h 05 min"
    assert terminal.run_seconds_left([10.0, 14.0], 3) == 36.0 and terminal.run_seconds_left([], 3) is None


def test_scoring_many_images_shows_a_bar_on_a_terminal(monkeypatch):
    screen = Terminal()
    monkeypatch.setattr("sys.stderr", screen)
    assert list(terminal.batches(5000, 2000, "scoring")) == [0, 2000, 4000]
    assert "scoring" in screen.getvalue() and "/5000" in screen.getvalue()
    quiet = Terminal()
    monkeypatch.setattr("sys.stderr", quiet)
    assert list(terminal.batches(5000, 2000, "scoring", show=False)) == [0, 2000, 4000] and quiet.getvalue() == ""


def small_train(out, *extra):
    return ["train", "--dataset", "mnist", "--root", str(dataset_dir("mnist-10k")), "--model", "mlp2-16-8",
            "--train-subset", "200", "--val-size", "50", "--test-subset", "50", "--batch-size", "50",
            "--threads", "1", "--no-report", "--out", str(out), *extra]


def test_epoch_lines_give_the_runs_eta_and_latest_points_at_the_newest_run(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(small_train(runs / "first", "--epochs", "1")) == 0
    out = capsys.readouterr().out
    assert "; 1 epoch of ce loss" in out and "left)" not in out
    assert (runs / "latest").resolve() == (runs / "first").resolve()
    assert main(small_train(runs / "second", "--epochs", "3")) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch ")]
    assert "(run: about" in lines[0] and "(run: about" in lines[1] and "(run:" not in lines[2]
    assert (runs / "latest").resolve() == (runs / "second").resolve() and (runs / "latest").is_symlink()
    elsewhere = tmp_path / "elsewhere"
    assert main(small_train(elsewhere / "third", "--epochs", "1", "--quiet")) == 0
    assert not (elsewhere / "latest").exists()  # only runs/ gets a latest link


def test_quick_tables_say_how_many_epochs_ran(tmp_path):
    from scratchnet.experiments.context import FinishedRun, data_description

    run = tmp_path / "run"
    assert main(small_train(run, "--epochs", "3", "--early-stopping", "1", "--quiet")) == 0
    ran = json.loads((run / "metrics.json").read_text())["epochs_run"]
    text = data_description(FinishedRun.read(run), quick=True)
    assert f"{terminal.plural(ran, 'epoch')} run" in text and "epoch(s)" not in text


@pytest.fixture
def figures(monkeypatch):
    """The matplotlib figures saved during a test, instead of the PNGs."""
    saved = []
    monkeypatch.setattr(Figure, "savefig", lambda fig, *args, **kwargs: saved.append(fig))
    return saved


def test_mistakes_title_has_thousands_separators(figures, tmp_path):
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 10, 12_000)
    y_pred = np.where(rng.random(12_000) < 0.9, y_true, (y_true + 1) % 10)
    probabilities = np.full((12_000, 10), 0.05)
    probabilities[np.arange(12_000), y_pred] = 0.55
    images = rng.integers(0, 256, (12_000, 1, 28, 28), dtype=np.uint8)
    plots.plot_mistakes(images, y_true, y_pred, probabilities, [str(d) for d in range(10)], tmp_path / "m.png")
    assert "of 12,000 test images misclassified" in figures[0]._suptitle.get_text()


def test_explore_count_labels_are_upright(figures, tmp_path):
    counts = {"train": np.full(10, 6000), "test": np.full(10, 1000)}
    dataset_plots.class_counts(counts, [str(d) for d in range(10)], "t", tmp_path / "c.png")
    labels = [text for text in figures[0].axes[0].texts]
    assert {t.get_text() for t in labels} == {"6,000", "1,000"} and all(t.get_rotation() == 0 for t in labels)


def test_the_first_layer_figure_has_a_legend(figures, tmp_path):
    plots.plot_filters(np.random.default_rng(0).normal(size=(4, 1, 5, 5)), tmp_path / "w.png", "First layer")
    assert any("red: positive weight" in text.get_text() and "blue: negative" in text.get_text()
               for text in figures[0].texts)


def test_reproduce_curves_tick_whole_epochs(figures, tmp_path):
    from scratchnet.experiments.context import FinishedRun
    from scratchnet.experiments.figures import plot_runs

    history = [{"epoch": e, "val_loss": 1 / e, "val_accuracy": 0.5 + e / 10, "train_accuracy": 0.6} for e in (1, 2)]
    plot_runs({"a": FinishedRun(tmp_path, {}, history)}, tmp_path / "c.png", "t")
    for ax in figures[0].axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks)


def test_explore_output_is_ignored_by_git():
    assert "explore/" in (REPO / ".gitignore").read_text().splitlines()


def test_predicting_an_idx_file_of_many_images_shows_a_bar(tmp_path, monkeypatch, capsys):
    from scratchnet.data.idx import write_idx
    from builders import write_linear_model

    write_linear_model(tmp_path / "model.npz")
    images = np.random.default_rng(0).integers(0, 256, (2500, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "many-idx3-ubyte", images)
    screen = Terminal()
    monkeypatch.setattr("sys.stderr", screen)
    assert main(["predict", str(tmp_path / "model.npz"), str(tmp_path / "many-idx3-ubyte"), "--json"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2500 and "predicting many-idx3-ubyte" in screen.getvalue()
