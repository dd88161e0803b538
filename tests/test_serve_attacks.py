"""`serve` attacked as a hostile web page or client would (issue 17, section 1), against a
real server on 127.0.0.1. Every loop is bounded and every test ends by itself in seconds."""
import io
import json
import selectors
import socket
import subprocess
import struct
import threading
import time
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw

from builders import bounded_python, digit_png, request, serving, write_linear_model
from scratchnet.serve import app
from scratchnet.serve.app import MAX_DRAWING_PIXELS, binding_warning, host_name, without_reprs
from scratchnet.train.modelfile import load_model


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return load_model(write_linear_model(tmp_path_factory.mktemp("run") / "model.npz"))


@pytest.fixture(scope="module")
def server(model):
    with serving(model, timeout=1.0, max_connections=8) as server:
        yield server


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header declares an RGBA image of width x height (its pixel data is empty):
    the 249 KB, 8000x8000 upload of the issue without its compressed zeros."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def post(server, body, headers):
    return request(server, "POST", "/predict", body, {"Content-Type": "image/png", **headers})


def error_of(answer: bytes) -> str:
    return json.loads(answer)["error"]


def test_an_8000x8000_png_is_refused_from_its_header(server):
    status, _, answer = post(server, png_header(8000, 8000), {})
    assert status == 413 and "8000x8000 pixels, over the limit of 4 megapixels" in error_of(answer)


def test_a_large_drawing_under_the_cap_is_reduced_and_answered(server):
    side = int(MAX_DRAWING_PIXELS ** 0.5)
    status, _, answer = post(server, digit_png(side), {})
    assert status == 200 and json.loads(answer)["predicted"] == "7"


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example", ""])
def test_a_foreign_host_is_refused(server, host):
    status, _, answer = post(server, digit_png(), {"Host": host})
    assert status == 403 and "is not this server" in error_of(answer)
    assert request(server, "GET", "/info", headers={"Host": host})[0] == 403  # DNS rebinding reads nothing


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]:8000", "192.168.1.7:8000"])
def test_ip_addresses_and_localhost_are_accepted_hosts(server, host):
    assert post(server, digit_png(), {"Host": host})[0] == 200


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://localhost:1"])
def test_a_foreign_origin_is_refused(server, origin):
    status, _, answer = post(server, digit_png(), {"Origin": origin})
    assert status == 403 and "other pages" in error_of(answer)


def test_a_dropped_file_of_unknown_type_is_accepted(server):
    assert post(server, digit_png(), {"Content-Type": "application/octet-stream"})[0] == 200


def test_the_page_s_own_origin_is_accepted(server):
    host, port = server.server_address[:2]
    assert post(server, digit_png(), {"Origin": f"http://{host}:{port}"})[0] == 200


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", ""])
def test_simple_cross_site_content_types_are_refused(server, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    status, _, answer = request(server, "POST", "/predict", digit_png(), headers)
    assert status == 415 and "is not accepted" in error_of(answer)


def receive_all(client: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (the client's timeout bounds each wait)."""
    answer = b""
    for _ in range(100):
        chunk = client.recv(4096)
        if not chunk:
            break
        answer += chunk
    return answer


def test_a_body_that_stops_coming_gets_408_within_the_timeout(server):
    started = time.monotonic()
    with socket.create_connection(server.server_address[:2], timeout=5) as client:
        client.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
                       b"Content-Length: 1000\r\n\r\n0123456789")
        answer = receive_all(client)
    assert answer.startswith(b"HTTP/1.1 408") and b"after 10 of 1000 bytes" in answer
    assert time.monotonic() - started < 4


def test_a_trickling_body_meets_the_overall_deadline(model):
    with serving(model, timeout=1.0) as server, socket.create_connection(server.server_address[:2], timeout=5) as client:
        client.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
                       b"Content-Length: 1000\r\n\r\n")
        started = time.monotonic()
        answer = b""
        for _ in range(40):  # one byte every 0.1 s: no single read waits for the timeout
            try:
                client.sendall(b"x")
            except OSError:
                break
            client.settimeout(0.1)
            try:
                answer += client.recv(4096)
            except TimeoutError:
                continue
            if answer:
                break
        assert answer.startswith(b"HTTP/1.1 408") and time.monotonic() - started < 3


def test_idle_connections_beyond_the_bound_get_503_and_the_server_recovers(model):
    with serving(model, timeout=1.0, max_connections=4) as server:
        idle = [socket.create_connection(server.server_address[:2], timeout=5) for _ in range(4)]
        try:
            time.sleep(0.2)  # let the server accept the four
            status, _, answer = request(server, "GET", "/info")
            assert status == 503 and "too many connections" in error_of(answer)
        finally:
            for connection in idle:
                connection.close()
        for _ in range(50):  # the slots come back as the idle connections end (at most 1 s)
            if request(server, "GET", "/info")[0] == 200:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the server did not recover after the idle connections closed")


def test_images_are_decoded_a_bounded_number_at_a_time(model, monkeypatch):
    gate, entered = threading.Event(), threading.Event()
    real_open = app.open_drawing

    def slow_open(data):
        entered.set()
        gate.wait(5)
        return real_open(data)

    monkeypatch.setattr(app, "open_drawing", slow_open)
    with serving(model, timeout=1.0, decode_slots=1) as server:
        first = threading.Thread(target=post, args=(server, digit_png(), {}))
        first.start()
        assert entered.wait(5)
        status, _, answer = post(server, digit_png(), {})
        gate.set()
        first.join(5)
    assert status == 503 and "busy with other images" in error_of(answer)


def test_error_messages_hold_no_object_reprs(server):
    status, _, answer = post(server, b"GIF89a not really", {})
    assert status == 400 and " at 0x" not in error_of(answer) and "not an image" in error_of(answer)
    assert without_reprs("cannot identify image file <_io.BytesIO object at 0x7f12ab>") == \
        "cannot identify image file the upload"


def test_nan_weights_give_a_message_and_valid_json(tmp_path):
    nan_model = load_model(write_linear_model(tmp_path / "model.npz"))
    with np.errstate(invalid="ignore"):
        nan_model.model[1].weight.data[:] = np.nan
    with serving(nan_model) as server:
        status, _, answer = post(server, digit_png(), {})
    payload = json.loads(answer, parse_constant=lambda name: pytest.fail(f"invalid JSON constant {name}"))
    assert status == 500 and "not numbers (NaN)" in payload["error"]


@pytest.mark.parametrize("host, warned", [("", True), ("0.0.0.0", True), ("::", True), ("192.168.1.7", True),
                                          ("127.0.0.1", False), ("localhost", False), ("::1", False)])
def test_binding_beyond_loopback_is_warned_about(host, warned):
    warning = binding_warning(host, 8000)
    assert (warning is not None) == warned
    if warned:
        assert "--host 127.0.0.1" in warning and "8000" in warning


def test_host_name_drops_the_port():
    assert [host_name(h) for h in ("a:80", "[::1]:8000", "[::1]", "b")] == ["a", "[::1]", "[::1]", "b"]


def rgba_digit_png(side: int) -> bytes:
    """A '7' in the alpha channel of a transparent RGBA picture (a drawing exported with alpha)."""
    image = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    ImageDraw.Draw(image).line([(side // 4, side // 5), (3 * side // 4, side // 5), (side // 2, 4 * side // 5)],
                               fill=(0, 0, 0, 255), width=side // 15)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def read_line(stream, seconds: float) -> str:
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        assert selector.select(seconds), "the server printed nothing in time"
    return stream.readline()


def test_a_real_serve_on_every_interface_warns_and_decodes_big_uploads_in_bounded_memory(tmp_path):
    """`scratchnet serve --host 0.0.0.0` in a process that may grow by only 250 MB: the warning,
    then three 4-megapixel RGBA uploads at once (decoded at full size they would take 3 x 64 MB
    of float32 each) all answered, an 8000x8000 one refused, and the server still up."""
    run = write_linear_model(tmp_path / "run" / "model.npz").parent
    argv, env = bounded_python("import sys\nsys.exit(scratchnet.cli.main(sys.argv[1:]))", budget_mb=250)
    process = subprocess.Popen([*argv, "serve", str(run), "--host", "0.0.0.0", "--port", "0"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        warning = read_line(process.stderr, 30)
        assert warning.startswith("warning: listening on every network interface") and "--host 127.0.0.1" in warning
        port = int(read_line(process.stdout, 30).rsplit(":", 1)[1].split("/")[0])
        server = type("Address", (), {"server_address": ("127.0.0.1", port)})
        big = rgba_digit_png(int(MAX_DRAWING_PIXELS ** 0.5))
        answers = [None] * 3

        def upload(i):
            answers[i] = post(server, big, {})

        threads = [threading.Thread(target=upload, args=(i,)) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert [answer[0] for answer in answers] == [200] * 3, [answer[2][:200] for answer in answers]
        assert post(server, png_header(8000, 8000), {})[0] == 413
        assert request(server, "GET", "/info")[0] == 200 and process.poll() is None
    finally:
        process.terminate()
        process.wait(10)
