"""Phone photos store pixels as shot and an EXIF Orientation tag saying how to turn them:
every image scratchnet opens is turned upright first (predict, --explain, serve)."""
import io
import json
import http.client
import threading

import numpy as np
import pytest
from PIL import Image, ImageDraw

from scratchnet import cli
from scratchnet.commands import predict
from scratchnet.data.handwriting import open_image
from scratchnet.serve import DigitServer
from scratchnet.train.modelfile import load_model
from builders import write_linear_model

ORIENTATION = 0x0112
ROTATED_90_CW = 6  # "turn the stored pixels 90 degrees clockwise to show them"


def upright_seven() -> Image.Image:
    """A dark '7' on light paper: no symmetry, so any turn changes it."""
    image = Image.new("L", (120, 160), 230)
    ImageDraw.Draw(image).line([(25, 30), (95, 30), (50, 135)], fill=20, width=12)
    return image


def as_phone_stores_it(upright: Image.Image, fmt: str) -> bytes:
    """The bytes a phone held sideways writes: the pixels turned a quarter counter-clockwise,
    and Orientation=6 so that viewers turn them back."""
    exif = Image.Exif()
    exif[ORIENTATION] = ROTATED_90_CW
    buffer = io.BytesIO()
    upright.transpose(Image.Transpose.ROTATE_90).save(buffer, format=fmt, exif=exif.tobytes(), quality=95)
    return buffer.getvalue()


def plain(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, quality=95)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt, tolerance", [("PNG", 0), ("JPEG", 12)])
def test_open_image_turns_a_tagged_photo_upright(fmt, tolerance):
    upright = upright_seven()
    opened = open_image(as_phone_stores_it(upright, fmt))
    assert opened.size == upright.size  # 120 wide, 160 high, as shot, not 160x120 as stored
    difference = np.abs(np.asarray(opened.convert("L"), np.int16) - np.asarray(upright, np.int16))
    assert np.median(difference) <= tolerance and difference.mean() < 4


@pytest.fixture(scope="module")
def digit_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    write_linear_model(run / "model.npz")
    return run


def test_predict_and_explain_see_the_upright_photo(digit_run, tmp_path, capsys, monkeypatch):
    tagged, untagged = tmp_path / "tagged.png", tmp_path / "upright.png"
    tagged.write_bytes(as_phone_stores_it(upright_seven(), "PNG"))
    untagged.write_bytes(plain(upright_seven(), "PNG"))
    assert cli.main(["predict", str(digit_run), str(tagged), str(untagged), "--json"]) == 0
    first, second = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert first["probabilities"] == second["probabilities"]
    rows = []
    monkeypatch.setattr(predict, "write_explanation", lambda path, explained: rows.extend(explained))
    assert cli.main(["predict", str(digit_run), str(tagged), "--explain", str(tmp_path / "why.png")]) == 0
    [(_, shown, _, _)] = rows
    assert shown.size == (120, 160)  # the --explain figure shows the photo upright, as shot


def test_serve_predicts_from_the_upright_photo(digit_run):
    server = DigitServer(("127.0.0.1", 0), load_model(digit_run / "model.npz"), model_name="tiny",
                         log_requests=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        answers = []
        for body in (as_phone_stores_it(upright_seven(), "PNG"), plain(upright_seven(), "PNG")):
            connection = http.client.HTTPConnection(*server.server_address[:2], timeout=10)
            connection.request("POST", "/predict", body=body, headers={"Content-Type": "image/png"})
            answers.append(json.loads(connection.getresponse().read()))
        assert answers[0]["input"] == answers[1]["input"] and answers[0]["probabilities"] == answers[1]["probabilities"]
    finally:
        server.shutdown()
        server.server_close()
