"""Model summaries: per layer output shape and parameters, totals, memory for a batch; in Python
(``model.summary``), from ``scratchnet models --summary``, at the top of training, in report.html."""
import numpy as np
import pytest
from conftest import dataset_dir

from scratchnet import nn, zoo
from scratchnet.cli import main
from scratchnet.nn.summary import summarize


def test_every_layer_gets_its_output_shape_and_parameters():
    _, model = zoo.build("cnn3-128-0.25")
    summary = model.summary((1, 28, 28), batch_size=128)
    leaves = [row for row in summary.rows if row.leaf]
    assert [row.output_shape for row in leaves[:4]] == [(32, 26, 26)] * 3 + [(32, 13, 13)]
    assert leaves[0].parameters == 32 * 9 + 32 and leaves[-1].output_shape == (10,)
    assert sum(row.parameters for row in leaves) == summary.total_parameters == model.num_parameters() == 225_226
    assert summary.activation_bytes == 128 * 4 * sum(int(np.prod(row.output_shape)) for row in leaves)
    text = str(summary)
    assert "225,226 parameters" in text and "memory for a batch of 128" in text and "32×26×26" in text


def test_nested_containers_are_indented_and_counted_once():
    model = nn.Sequential(nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU()),
                          nn.Sequential(nn.Flatten(), nn.Linear(4 * 6 * 6, 10)))
    summary = summarize(model, (1, 8, 8))
    assert [(row.name, row.depth) for row in summary.rows] == [
        ("", 0), ("0", 1), ("0.0", 2), ("0.1", 2), ("1", 1), ("1.0", 2), ("1.1", 2)]
    assert summary.rows[1].parameters == 40 and summary.total_parameters == 40 + 1450
    lines = str(summary).splitlines()
    assert any(line.startswith("  0.0: Conv2d(1, 4") for line in lines) and "(1,450)" in str(summary)


def test_the_summary_leaves_the_model_as_it_was():
    model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.Linear(4, 2))
    model.train()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    model.summary((3,))
    assert model.training and all(m.training for m in model.modules())
    assert all("forward" not in m.__dict__ for m in model.modules())
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())


def test_a_shape_the_model_refuses_is_a_clear_error():
    with pytest.raises(ValueError, match="expected input"):
        nn.Sequential(nn.Linear(3, 4)).summary((5,))


def test_models_summary_command(capsys):
    assert main(["models", "--summary", "lenet5", "--input", "3x32x32", "--batch-size", "64"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("lenet5\n") and "6×28×28" in out and "memory for a batch of 64" in out
    assert f"{zoo.num_parameters('lenet5', (3, 32, 32)):,} parameters" in out
    with pytest.raises(SystemExit):
        main(["models", "--summary", "lenet5", "--input", "3x32"])


def test_training_prints_the_summary_first_and_the_report_shows_it(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--dataset", "mnist", "--root", str(dataset_dir("mnist-10k")), "--model", "mlp2-16-8",
                 "--epochs", "1", "--train-subset", "100", "--val-size", "20", "--test-subset", "20",
                 "--batch-size", "20", "--threads", "1", "--out", str(run)]) == 0
    out = capsys.readouterr().out
    assert out.index("memory for a batch of 20") < out.index("epoch 1/1")
    page = (run / "report.html").read_text(encoding="utf-8")
    assert "memory for a batch of 20" in page and "Linear(in_features=784, out_features=16" in page
