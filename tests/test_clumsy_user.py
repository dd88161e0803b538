"""What a clumsy user (or a hand-edited file) does, and the message each gets instead of a
traceback (issue 17, section 5)."""
import io
import json
import os
import zipfile

import numpy as np
import pytest

from builders import DIGITS, digit_png, write_idx, write_idx_dataset, write_linear_model
from scratchnet.cli import main
from scratchnet.spec import build_model, load_spec
from scratchnet.train.modelfile import load_model, save_model


@pytest.fixture(autouse=True)
def never_download(monkeypatch):
    """A missing dataset must fail here, not be fetched: tests never download."""
    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to download a dataset")
    monkeypatch.setattr("scratchnet.data.dataset.download_files", refuse)


@pytest.fixture(scope="module")
def tiny_mnist(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data") / "mnist"
    write_idx_dataset(folder, n_train=120, n_test=20)
    return folder


def train_args(root, out, *extra):
    return ["train", "--dataset", "mnist", "--root", str(root), "--model", "mlp2-32-16", "--epochs", "1",
            "--val-size", "20", "--batch-size", "20", "--out", str(out), "--quiet", "--no-report", *extra]


def error_of(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


# ---- model metadata -------------------------------------------------------------------------

def with_meta(path, change):
    """Rewrite the metadata entry of the model file at ``path`` with ``change(meta)`` (or raw bytes)."""
    with zipfile.ZipFile(path) as archive:
        entries = {info.filename: archive.read(info) for info in archive.infolist()}
    meta = json.loads(np.load(path)["scratchnet_model"].tobytes())
    raw = change(meta)
    raw = raw if isinstance(raw, bytes) else json.dumps(raw).encode()
    header = np.lib.format.header_data_from_array_1_0(np.frombuffer(raw, np.uint8))
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    entries["scratchnet_model.npy"] = buffer.getvalue() + raw
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


@pytest.mark.parametrize("change, message", [
    (lambda m: {**m, "classes": 3}, "classes = '3'"),
    (lambda m: {**m, "classes": [1, 2]}, "classes"),
    (lambda m: {**m, "input_shape": "28x28"}, "input_shape"),
    (lambda m: {**m, "input_shape": [1, 28, 10**12]}, "input_shape"),
    (lambda m: {**m, "dataset": None}, "dataset"),
    (lambda m: {**m, "preprocess": "scale"}, "preprocess"),
    (lambda m: {**m, "preprocess": {"kind": "nope"}}, "unknown preprocessing"),
    (lambda m: {k: v for k, v in m.items() if k != "spec"}, "lacks spec"),
    (lambda m: {**m, "spec": {"layers": "Linear"}}, "layers"),
    (lambda m: {**m, "spec": {"layers": [{"type": "Linear", "in_features": 784, "out_features": 10,
                                          "init": "zeros"}]}}, "init"),
    (lambda m: {**m, "format_version": "1"}, "not a number"),
    (lambda m: b"[" * 100_000 + b"]" * 100_000, "is not JSON"),
], ids=["classes-number", "classes-ints", "shape-string", "shape-huge", "dataset-null", "preprocess-string",
        "preprocess-kind", "no-spec", "layers-string", "init-string", "version-string", "deep-json"])
def test_model_metadata_of_the_wrong_type_gets_a_message(tmp_path, change, message):
    path = with_meta(write_linear_model(tmp_path / "model.npz"), change)
    with pytest.raises(ValueError, match=message):
        load_model(path)


def test_a_newer_file_without_a_version_does_not_say_none(tmp_path):
    path = with_meta(write_linear_model(tmp_path / "model.npz"),
                     lambda m: {k: v for k, v in {**m, "format_version": 9}.items() if k != "scratchnet_version"})
    with pytest.raises(ValueError, match="newer scratchnet") as err:
        load_model(path)
    assert "None" not in str(err.value) and "an unknown version" in str(err.value)
    old = with_meta(write_linear_model(tmp_path / "old.npz"),
                    lambda m: {k: v for k, v in m.items() if k != "scratchnet_version"})
    assert load_model(old).scratchnet_version == "unknown"


# ---- spec files -----------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("[" * 200_000 + "]" * 200_000, "not valid JSON"),
    ('{"layers": [{"type": "Linear", "in_features": 4, "out_features": 2, "init": "zeros_"}]}', "init must be"),
    ('{"layers": [{"type": "Linear", "in_features": 4, "out_features": 2, "init": {"weight": 3}}]}',
     "init of 'weight' must be"),
], ids=["nested-200k", "init-string", "init-entry-number"])
def test_broken_spec_files_get_a_message(tmp_path, text, message):
    path = tmp_path / "model.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        build_model(load_spec(path))


def test_a_binary_spec_file_gets_a_message(tmp_path):
    path = tmp_path / "model.toml"
    path.write_bytes(b"\xff\xfe[[layers]]")
    with pytest.raises(ValueError, match="is not UTF-8 text"):
        load_spec(path)


# ---- command-line arguments -----------------------------------------------------------------

def test_out_pointing_at_a_file_is_a_usage_error(tiny_mnist, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(train_args(tiny_mnist, tmp_path / "notes.txt")) == 2
    assert "is a file, not a folder" in error_of(capsys)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_datasets_download_into_a_file_says_so(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    assert main(["datasets", "download", "mnist", "--root", str(tmp_path / "f")]) == 1
    assert "is a file, not a folder" in error_of(capsys)


@pytest.mark.parametrize("explain", ["x.txt", "no-folder/x.png"])
def test_explain_needs_a_png_in_an_existing_folder(tmp_path, capsys, explain):
    run = write_linear_model(tmp_path / "run" / "model.npz").parent
    (tmp_path / "d.png").write_bytes(digit_png())
    assert main(["predict", str(run), str(tmp_path / "d.png"), "--explain", str(tmp_path / explain)]) == 2
    assert "give a .png file in an existing folder" in error_of(capsys)


def test_evaluate_digits_must_be_sensible(tmp_path, capsys):
    run = write_linear_model(tmp_path / "run" / "model.npz").parent
    assert main(["evaluate", str(run), "--digits", "-1"]) == 2
    assert "--digits must be between 0 and 10" in error_of(capsys)


def test_a_crop_padding_larger_than_the_image_is_refused(tiny_mnist, tmp_path, capsys):
    assert main(train_args(tiny_mnist, tmp_path / "run", "--augment", "crop", "--crop-padding", "100000")) == 2
    assert "--crop-padding 100000 is not smaller than the mnist images (28x28)" in error_of(capsys)


def test_an_empty_dataset_says_it_holds_no_images(tmp_path, capsys):
    folder = tmp_path / "mnist"
    write_idx_dataset(folder, n_train=0, n_test=5)
    assert main(train_args(folder, tmp_path / "run")) == 2
    err = error_of(capsys)
    assert "holds no images" in err and "val_size" not in err


def test_more_threads_than_cores_are_warned_about(tiny_mnist, tmp_path, capsys):
    cores = len(os.sched_getaffinity(0))
    assert main(train_args(tiny_mnist, tmp_path / "run", "--threads", str(cores + 1))) == 0
    assert f"warning: {cores + 1} threads on {cores} cores" in capsys.readouterr().err


# ---- NaN weights ----------------------------------------------------------------------------

def test_nan_weights_give_a_message_and_valid_json_lines(tmp_path, capsys):
    path = write_linear_model(tmp_path / "run" / "model.npz")
    model = load_model(path)
    model.model[1].weight.data[:] = np.nan
    save_model(path, model.model, model.spec, model.preprocess, DIGITS, model.input_shape, model.dataset)
    (tmp_path / "d.png").write_bytes(digit_png())
    images = write_idx(tmp_path / "x-idx3-ubyte", np.zeros((2, 28, 28), np.uint8))
    assert main(["predict", str(path.parent), str(tmp_path / "d.png")]) == 1
    out, err = capsys.readouterr()
    assert "nan %" not in out + err and "not numbers (NaN)" in err
    assert main(["predict", str(path.parent), str(tmp_path / "d.png"), str(images), "--json"]) == 1
    lines = capsys.readouterr().out.splitlines()
    records = [json.loads(line, parse_constant=lambda name: pytest.fail(f"invalid JSON: {name}")) for line in lines]
    assert len(records) == 2 and all("not numbers (NaN)" in record["error"] for record in records)
