"""`scratchnet predict RUN IMAGE...` on PNG, JPEG and IDX files with small saved models."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image, ImageDraw

from builders import CIFAR_CLASSES as CIFAR
from builders import DIGITS, write_idx, write_linear_model
from scratchnet import cli
from scratchnet.data.pictures import prepare_image
from scratchnet.data.handwriting import prepare_digit
from scratchnet.train.modelfile import load_model


def digit_photo(path: Path) -> Path:
    """A dark '7' drawn on light paper, off-centre, saved in the format the suffix names."""
    image = Image.new("RGB", (120, 90), (235, 232, 225))
    draw = ImageDraw.Draw(image)
    draw.line([(20, 15), (60, 15), (35, 75)], fill=(30, 30, 40), width=7)
    image.save(path)
    return path


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("mnist") / "run"
    write_linear_model(run / "model.npz", (1, 28, 28), DIGITS, "mnist", ink_class=None)
    return run


def predict_json(capsys, *args) -> tuple[int, list[dict]]:
    status = cli.main(["predict", *map(str, args), "--json"])
    return status, [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_png_and_jpeg_get_the_probabilities_of_their_prepared_digit(mnist_run, tmp_path, capsys):
    png, jpeg = digit_photo(tmp_path / "seven.png"), digit_photo(tmp_path / "seven.jpg")
    status, records = predict_json(capsys, mnist_run, png, jpeg, "--top-k", "4")
    assert status == 0 and [r["file"] for r in records] == [str(png), str(jpeg)]
    model = load_model(mnist_run / "model.npz")
    for path, record in zip((png, jpeg), records):
        expected = model.predict_proba(prepare_digit(Image.open(path))[None, None])[0]
        best = np.argsort(-expected)[:4]
        assert "index" not in record
        assert record["prediction"] == DIGITS[best[0]]
        assert list(record["probabilities"]) == [DIGITS[i] for i in best]
        assert np.allclose(list(record["probabilities"].values()), expected[best])


def test_pictures_starting_with_zero_bytes_are_not_taken_for_idx(mnist_run, tmp_path, capsys):
    icon = tmp_path / "seven.ico"  # ICO files start 00 00 01 00
    Image.open(digit_photo(tmp_path / "seven.png")).save(icon)
    assert icon.read_bytes()[:2] == b"\x00\x00"
    status, records = predict_json(capsys, mnist_run, icon)
    assert status == 0 and "prediction" in records[0] and "index" not in records[0]


def test_idx_files_raw_and_gzip_get_one_answer_per_image(mnist_run, tmp_path, capsys):
    images = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    raw = write_idx(tmp_path / "images-idx3-ubyte", images)
    packed = write_idx(tmp_path / "images-idx3-ubyte.gz", images)
    status, records = predict_json(capsys, mnist_run / "model.npz", raw, packed)
    assert status == 0
    assert [(r["file"], r["index"]) for r in records] == [(str(f), i) for f in (raw, packed) for i in range(3)]
    expected = load_model(mnist_run / "model.npz").predict_proba(images[:, None])
    for record, row in zip(records, np.concatenate([expected, expected])):
        assert record["prediction"] == DIGITS[int(np.argmax(row))]
        assert len(record["probabilities"]) == 3
        assert record["probabilities"][record["prediction"]] == pytest.approx(row.max())


def test_table_output_lists_the_top_classes(mnist_run, tmp_path, capsys):
    png = digit_photo(tmp_path / "seven.png")
    assert cli.main(["predict", str(mnist_run), str(png), "--top-k", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{png}: ") and lines[1].split() == ["class", "probability"]
    assert len([line for line in lines[2:] if line.endswith(" %")]) == 2
    assert lines[2].split()[0] == lines[0].rsplit(": ", 1)[1]


def test_bad_files_get_their_own_error_and_the_others_an_answer(mnist_run, tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    blank = tmp_path / "blank.png"
    Image.new("L", (40, 40), 255).save(blank)
    small = write_idx(tmp_path / "small-idx3-ubyte", np.zeros((2, 10, 10), np.uint8))
    good = digit_photo(tmp_path / "seven.png")
    status, records = predict_json(capsys, mnist_run, notes, tmp_path / "missing.png", blank, small, good)
    assert status == 1
    errors = {Path(r["file"]).name: r["error"] for r in records if "error" in r}
    assert "not an image" in errors["notes.txt"]
    assert errors["missing.png"] == f"{tmp_path / 'missing.png'}: no such file"
    assert "no ink found" in errors["blank.png"]
    assert "10x10" in errors["small-idx3-ubyte"] and "1x28x28" in errors["small-idx3-ubyte"]
    assert [r["file"] for r in records if "prediction" in r] == [str(good)]


def test_bad_files_are_reported_on_stderr_in_table_mode(mnist_run, tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    assert cli.main(["predict", str(mnist_run), str(notes), str(digit_photo(tmp_path / "ok.png"))]) == 1
    out, err = capsys.readouterr()
    assert err.startswith(f"scratchnet predict: {notes} is not an image") and "ok.png: " in out


def test_colour_models_get_pictures_resized_to_their_input(tmp_path, capsys):
    run = write_linear_model(tmp_path / "cifar" / "model.npz", (3, 32, 32), CIFAR, "cifar-10", ink_class=None).parent
    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(photo)
    status, [record] = predict_json(capsys, run, photo, "--top-k", "10")
    assert status == 0 and sorted(record["probabilities"]) == sorted(CIFAR)
    assert sum(record["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)


def test_prepare_image_resizes_and_inverts_light_gray_pictures():
    picture = Image.new("L", (60, 60), 240)
    ImageDraw.Draw(picture).rectangle([20, 20, 40, 40], fill=20)
    model = SimpleNamespace(input_shape=(1, 28, 28), dataset="fashion-mnist")
    image = prepare_image(picture, model)
    assert image.shape == (1, 28, 28) and image.dtype == np.uint8
    assert image[0, 0, 0] < 30 and image[0, 14, 14] > 220  # bright object on black, as Fashion-MNIST
    colour = prepare_image(Image.new("RGB", (10, 20), (10, 200, 30)), SimpleNamespace(input_shape=(3, 32, 32),
                                                                                     dataset="cifar-10"))
    assert colour.shape == (3, 32, 32) and tuple(colour[:, 5, 5]) == (10, 200, 30)


def test_bad_arguments_fail_before_any_work(mnist_run, tmp_path, capsys):
    assert cli.main(["predict", str(mnist_run), "x.png", "--top-k", "0"]) == 2
    assert "--top-k must be at least 1" in capsys.readouterr().err
    assert cli.main(["predict", str(tmp_path / "nothing"), "x.png"]) == 2
    assert "does not exist" in capsys.readouterr().err
