"""The drawing page's web server: a page to draw or drop a digit, and a JSON prediction API.

Routes:
  GET  /, /app.js, /style.css   the page (files in ``static/``; nothing from the internet)
  GET  /info                    {"model", "classes", "input_shape", "dataset", "handwriting"}
  POST /predict                 body: image bytes (PNG, JPEG, ...) or JSON {"image": "data:...;base64,..."}
                                -> {"predicted", "index", "probabilities", "classes", "input"}
                                   where "input" is the 28x28 image the network saw, as a PNG data URI
Errors are JSON {"error": message} with 400 (malformed or unusable image), 404, 411,
413 (body over ``max_bytes``) or 500; a bad request never stops the server.

Built on the standard library's ``ThreadingHTTPServer``: a page and two JSON routes
need no framework, and it adds no dependency; each request gets its own thread, so
a slow upload does not block the page. Forward passes take turns on the one model
(a lock), as layers may keep buffers between calls; one 28x28 digit takes milliseconds.
"""
from __future__ import annotations

import base64
import binascii
import io
import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Protocol, Sequence

import numpy as np
from PIL import Image

from ..data.handwriting import open_image
from ..data.pictures import is_handwriting, prepare_image

MAX_REQUEST_BYTES = 5 * 1024 * 1024
DIGIT_SHAPE = (1, 28, 28)
STATIC_FILES = {  # URL path -> (file in static/, Content-Type); nothing else is served
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
}


class Classifier(Protocol):
    """What the server needs from a loaded model (``scratchnet.train.LoadedModel`` has it)."""

    classes: Sequence[str]
    input_shape: tuple[int, int, int]
    dataset: str

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """(N, C, H, W) uint8 -> (N, classes) float32 probabilities."""


class RequestError(Exception):
    """A request the server answers with ``status`` and a JSON error message."""

    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status = status


class DigitServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that holds the model the handler asks."""

    daemon_threads = True  # a hanging client must not keep the process alive on Ctrl+C

    def __init__(self, address: tuple[str, int], model: Classifier, model_name: str,
                 max_bytes: int = MAX_REQUEST_BYTES, log_requests: bool = True):
        if tuple(model.input_shape) != DIGIT_SHAPE:
            raise ValueError(
                f"the drawing page needs a model with 1x28x28 inputs (MNIST-like); {model_name} "
                f"takes {'x'.join(map(str, model.input_shape))}"
            )
        self.model, self.model_name = model, model_name
        self._model_lock = threading.Lock()
        self.max_bytes, self.log_requests = max_bytes, log_requests
        super().__init__(address, DigitRequestHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"

    def info(self) -> dict:
        return {"model": self.model_name, "classes": [str(c) for c in self.model.classes],
                "input_shape": list(self.model.input_shape), "dataset": self.model.dataset,
                "handwriting": is_handwriting(self.model.dataset, self.model.input_shape)}

    def predict(self, image_bytes: bytes) -> dict:
        """Image file bytes -> the prediction JSON (RequestError 400 if the image is unusable)."""
        try:
            digit = prepare_image(open_image(image_bytes), self.model)[0]
        except ValueError as err:
            raise RequestError(HTTPStatus.BAD_REQUEST, str(err)) from None
        with self._model_lock:
            probabilities = np.asarray(self.model.predict_proba(digit[None, None]))[0]
        index = int(np.argmax(probabilities))
        classes = [str(c) for c in self.model.classes]
        return {
            "predicted": classes[index],
            "index": index,
            "probabilities": [round(float(p), 6) for p in probabilities],
            "classes": classes,
            "input": png_data_uri(digit),
        }


def png_data_uri(image: np.ndarray) -> str:
    """A uint8 grayscale array as ``data:image/png;base64,...``."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def image_bytes_from_body(body: bytes, content_type: str) -> bytes:
    """The image file in a request body: the raw bytes, or the data URI of a JSON {"image": ...}."""
    if not body:
        raise RequestError(HTTPStatus.BAD_REQUEST, "empty request body; POST an image (PNG, JPEG) or JSON {\"image\": data URI}")
    if not content_type.startswith("application/json"):
        return body
    try:
        uri = json.loads(body)["image"]
        header, encoded = uri.split(",", 1)
        if not (header.startswith("data:") and header.endswith(";base64")):
            raise ValueError("not a base64 data URI")
        return base64.b64decode(encoded, validate=True)
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as err:
        raise RequestError(
            HTTPStatus.BAD_REQUEST,
            f"malformed JSON body ({type(err).__name__}: {err}); send {{\"image\": \"data:image/png;base64,...\"}}",
        ) from None


class DigitRequestHandler(BaseHTTPRequestHandler):
    """Routes one request; every failure becomes a JSON error response."""

    server: DigitServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._respond_safely(self._get)

    def do_POST(self) -> None:
        self._respond_safely(self._post)

    def _respond_safely(self, route) -> None:
        try:
            self._answer(route)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the browser went away (page closed): nobody to answer

    def _answer(self, route) -> None:
        try:
            route()
        except (BrokenPipeError, ConnectionResetError):
            raise
        except RequestError as err:
            self._send_json({"error": str(err)}, err.status)
        except Exception as err:  # noqa: BLE001 -- one bad request must not take the page down
            self.log_error("internal error on %s: %r", self.path, err)
            self._send_json({"error": f"internal error: {type(err).__name__}: {err}"}, HTTPStatus.INTERNAL_SERVER_ERROR)

    def _get(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/info":
            self._send_json(self.server.info())
        elif path in STATIC_FILES:
            name, content_type = STATIC_FILES[path]
            self._send(resources.files(__package__).joinpath("static", name).read_bytes(), content_type)
        else:
            raise RequestError(HTTPStatus.NOT_FOUND, f"no page at {path}; the page is at /")

    def _post(self) -> None:
        path = self.path.split("?", 1)[0]
        if path != "/predict":
            self.close_connection = True  # the unread body would be parsed as the next request
            raise RequestError(HTTPStatus.NOT_FOUND, f"nothing to POST to at {path}; use /predict")
        body = self._read_body()
        image_bytes = image_bytes_from_body(body, self.headers.get("Content-Type", ""))
        self._send_json(self.server.predict(image_bytes))

    def _read_body(self) -> bytes:
        """The request body, refused before reading when it is over the server's limit."""
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            self.close_connection = True
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "Content-Length header required")
        try:
            length = int(length_header)
            if length < 0:
                raise ValueError
        except ValueError:
            self.close_connection = True
            raise RequestError(HTTPStatus.BAD_REQUEST, f"bad Content-Length {length_header!r}") from None
        if length > self.server.max_bytes:
            self.close_connection = True  # do not read megabytes we refuse
            raise RequestError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"request body is {length} bytes, over the limit of {self.server.max_bytes}; send a smaller image",
            )
        return self.rfile.read(length)

    def _send_json(self, payload: dict, status: HTTPStatus = HTTPStatus.OK) -> None:
        self._send(json.dumps(payload).encode("utf-8"), "application/json", status)

    def _send(self, body: bytes, content_type: str, status: HTTPStatus = HTTPStatus.OK) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 -- the base class's name
        if self.server.log_requests:
            super().log_message(format, *args)
