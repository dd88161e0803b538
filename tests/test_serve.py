"""The drawing page's server (scratchnet.serve) in-process on 127.0.0.1, and `scratchnet serve`."""
import base64
import http.client
import io
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from builders import digit_png, request, serving, write_linear_model
from scratchnet.serve import DigitServer
from scratchnet.train.modelfile import load_model

@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return load_model(write_linear_model(tmp_path_factory.mktemp("run") / "model.npz"))


@pytest.fixture(scope="module")
def server(model):
    with serving(model, max_bytes=200_000) as server:
        yield server


def check_prediction(answer):
    assert answer["predicted"] == "7" and answer["index"] == 7
    assert answer["classes"] == [str(d) for d in range(10)]
    assert len(answer["probabilities"]) == 10 and abs(sum(answer["probabilities"]) - 1) < 1e-4
    prefix = "data:image/png;base64,"
    assert answer["input"].startswith(prefix)
    seen = np.asarray(Image.open(io.BytesIO(base64.b64decode(answer["input"][len(prefix):]))))
    assert seen.shape == (28, 28) and seen.max() == 255 and seen[:4].max() == 0


def test_page_and_static_files_are_served(server):
    status, headers, body = request(server, "GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    page = body.decode()
    assert '<canvas id="pad"' in page and 'src="app.js"' in page and "http" not in page  # offline
    for path, kind in (("/app.js", "text/javascript"), ("/style.css", "text/css")):
        status, headers, body = request(server, "GET", path)
        assert status == 200 and headers["Content-Type"].startswith(kind) and body


def test_info(server):
    status, _, body = request(server, "GET", "/info")
    assert status == 200
    assert json.loads(body) == {"model": "tiny", "classes": [str(d) for d in range(10)], "input_shape": [1, 28, 28],
                                "dataset": "mnist", "handwriting": True}


def test_predict_png_bytes(server):
    status, headers, body = request(server, "POST", "/predict", digit_png(), {"Content-Type": "image/png"})
    assert status == 200 and headers["Content-Type"] == "application/json"
    check_prediction(json.loads(body))


def test_predict_data_uri_json(server):
    uri = "data:image/png;base64," + base64.b64encode(digit_png()).decode()
    status, _, body = request(server, "POST", "/predict", json.dumps({"image": uri}), {"Content-Type": "application/json"})
    assert status == 200
    check_prediction(json.loads(body))


@pytest.mark.parametrize(
    "body, content_type, message",
    [
        (b"not an image", "image/png", "not an image"),
        (b"{\"image\": 3}", "application/json", "malformed JSON"),
        (b"{\"picture\": \"x\"}", "application/json", "malformed JSON"),
        (b"{\"image\": \"data:image/png;base64,@@@\"}", "application/json", "malformed JSON"),
        (b"", "image/png", "empty request body"),
    ],
    ids=["garbage", "wrong-type", "missing-key", "bad-base64", "empty"],
)
def test_malformed_requests_get_400_with_a_json_error(server, body, content_type, message):
    status, _, answer = request(server, "POST", "/predict", body, {"Content-Type": content_type})
    assert status == 400 and message in json.loads(answer)["error"]


def test_blank_drawing_gets_400_no_ink(server):
    buffer = io.BytesIO()
    Image.new("L", (280, 280), 0).save(buffer, format="PNG")
    status, _, answer = request(server, "POST", "/predict", buffer.getvalue(), {"Content-Type": "image/png"})
    assert status == 400 and "no ink" in json.loads(answer)["error"]


def test_oversized_request_gets_413_without_being_read(server):
    status, _, answer = request(server, "POST", "/predict", b"x" * 300_000, {"Content-Type": "image/png"})
    assert status == 413 and "over the limit of 200000" in json.loads(answer)["error"]


def test_missing_content_length_gets_411(server):
    connection = http.client.HTTPConnection(*server.server_address[:2], timeout=10)
    connection.putrequest("POST", "/predict")
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 411 and "Content-Length" in json.loads(response.read())["error"]
    connection.close()


@pytest.mark.parametrize("method, path", [("GET", "/nothing"), ("GET", "/../pyproject.toml"), ("POST", "/info")])
def test_unknown_paths_get_404(server, method, path):
    status, _, answer = request(server, method, path, b"x" if method == "POST" else None)
    assert status == 404 and "error" in json.loads(answer)


def test_get_predict_gets_405_naming_post(server):
    status, headers, answer = request(server, "GET", "/predict")
    assert status == 405 and headers["Allow"] == "POST" and "POST" in json.loads(answer)["error"]


def test_server_keeps_answering_after_errors(server):
    request(server, "POST", "/predict", b"junk", {"Content-Type": "image/png"})
    status, _, body = request(server, "POST", "/predict", digit_png(), {"Content-Type": "image/png"})
    assert status == 200 and json.loads(body)["predicted"] == "7"


def test_concurrent_predictions_all_succeed(server):
    from concurrent.futures import ThreadPoolExecutor

    body = digit_png()
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: request(server, "POST", "/predict", body, {"Content-Type": "image/png"}),
                                range(16)))
    assert [status for status, _, _ in answers] == [200] * 16
    assert len({answer for _, _, answer in answers}) == 1  # the same image gets the same answer


def test_a_failing_model_gets_500_and_the_server_keeps_running(model):
    class BrokenModel:
        classes, input_shape, dataset = model.classes, model.input_shape, model.dataset

        def predict_proba(self, x):
            raise RuntimeError("out of memory")

    with serving(BrokenModel(), name="broken") as broken:
        status, _, answer = request(broken, "POST", "/predict", digit_png(), {"Content-Type": "image/png"})
        assert status == 500 and json.loads(answer)["error"] == "internal error: RuntimeError: out of memory"
        assert request(broken, "GET", "/info")[0] == 200


def test_model_without_28x28_inputs_is_refused(tmp_path):
    rgb = load_model(write_linear_model(tmp_path / "model.npz", input_shape=(3, 32, 32)))
    with pytest.raises(ValueError, match="1x28x28"):
        DigitServer(("127.0.0.1", 0), rgb, model_name="cifar")


def test_serve_command_prints_its_address_and_serves(tmp_path):
    run = tmp_path / "my-run"
    run.mkdir()
    write_linear_model(run / "model.npz")
    process = subprocess.Popen(
        [sys.executable, "-m", "scratchnet", "serve", str(run), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("Drawing page for my-run: http://127.0.0.1:"), line + process.stderr.read()
        host, port = line.split("http://")[1].split("/")[0].split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.request("GET", "/info")
        assert json.loads(connection.getresponse().read())["model"] == "my-run"
        connection.close()
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_serve_command_rejects_a_missing_run(tmp_path):
    from scratchnet.cli import main

    assert main(["serve", str(tmp_path / "nowhere"), "--port", "0"]) == 2
    assert main(["serve", str(tmp_path), "--port", "70000"]) == 2


def test_serve_tells_the_page_whether_the_model_reads_digits(tmp_path):
    fashion = load_model(write_linear_model(tmp_path / "fashion.npz", classes=[f"c{k}" for k in range(10)],
                                            dataset="fashion-mnist"))
    server = DigitServer(("127.0.0.1", 0), fashion, model_name="clothes", log_requests=False)
    try:
        assert server.info()["handwriting"] is False and server.info()["dataset"] == "fashion-mnist"
    finally:
        server.server_close()
