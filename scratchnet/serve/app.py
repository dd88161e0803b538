"""The drawing page's web server: a page to draw or drop a digit, and a JSON prediction API.

Routes:
  GET  /, /app.js, /style.css   the page (files in ``static/``; nothing from the internet)
  GET  /info                    {"model", "classes", "input_shape", "dataset", "handwriting"}
  GET  /structure               {"total_parameters", "layers": [{"name", "depth", "layer", "output_shape",
                                "parameters"}, ...]}: the network as ``scratchnet.nn.summary`` finds it
  POST /predict                 body: image bytes (PNG, JPEG, ...) or JSON {"image": "data:...;base64,..."}
                                -> {"predicted", "index", "probabilities", "classes", "input"}
                                   where "input" is the 28x28 image the network saw, as a PNG data URI
Errors are JSON {"error": message} with 400 (malformed or unusable image), 403 (a foreign
Host or Origin), 404, 408 (a body that does not arrive in time), 411, 413 (body over
``max_bytes`` or image over ``MAX_DRAWING_PIXELS``), 415 (a Content-Type other than JSON or
an image), 500 or 503 (busy); a bad request never stops the server.

Built on the standard library's ``ThreadingHTTPServer``: a page and two JSON routes
need no framework, and it adds no dependency; each request gets its own thread, so
a slow upload does not block the page. Forward passes take turns on the one model
(a lock), as layers may keep buffers between calls; one 28x28 digit takes milliseconds.

Any web page the user visits can send requests to 127.0.0.1, so the server defends itself:
  * DNS rebinding: a ``Host`` header must be an IP address, ``localhost`` or the name the
    server was bound to (a rebinding page reaches us under its own domain name), and an
    ``Origin`` header, when a browser sends one, must be this server's own.
  * Cross-site "simple" requests: POST takes ``application/json``, ``image/*`` or
    ``application/octet-stream`` (a dropped file of unknown type) only; each makes a browser
    ask first (a CORS preflight), which this server never grants.
  * Exhaustion: every connection has a socket timeout and a body deadline, at most
    ``max_connections`` are served at once (the next get 503), and images are decoded under
    a semaphore, refused above ``MAX_DRAWING_PIXELS`` from their header, and reduced with
    Pillow (JPEG ``draft``, ``thumbnail``) before any float array is made.
"""
from __future__ import annotations

import base64
import binascii
import io
import ipaddress
import json
import re
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Protocol, Sequence

import numpy as np
from PIL import Image

from ..data.handwriting import WORK_SIDE, open_image
from ..data.pictures import is_handwriting, prepare_image
from ..nn import Module
from ..nn.summary import summarize

MAX_REQUEST_BYTES = 5 * 1024 * 1024
MAX_DRAWING_PIXELS = 4_000_000  # 2000x2000 after a JPEG's draft: plenty for a drawing or a photo of one
REQUEST_TIMEOUT = 10.0  # seconds a connection may stay silent, and the most a request body may take
MAX_CONNECTIONS = 32  # connections served at once; more get 503 at once instead of a thread each
DECODE_SLOTS = 2  # images decoded at once (each may hold MAX_DRAWING_PIXELS * 4 bytes for a moment)
DIGIT_SHAPE = (1, 28, 28)
POST_TYPES = ("application/json", "image/", "application/octet-stream")  # none of them CORS-safelisted
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

    def __init__(self, status: HTTPStatus, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.headers = dict(headers or {})  # e.g. Allow on a 405


class DigitServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that holds the model the handler asks."""

    daemon_threads = True  # a hanging client must not keep the process alive on Ctrl+C

    def __init__(self, address: tuple[str, int], model: Classifier, model_name: str,
                 max_bytes: int = MAX_REQUEST_BYTES, log_requests: bool = True, timeout: float = REQUEST_TIMEOUT,
                 max_connections: int = MAX_CONNECTIONS, decode_slots: int = DECODE_SLOTS):
        if tuple(model.input_shape) != DIGIT_SHAPE:
            raise ValueError(
                f"the drawing page needs a model with 1x28x28 inputs (MNIST-like); {model_name} "
                f"takes {'x'.join(map(str, model.input_shape))}"
            )
        self.model, self.model_name = model, model_name
        self._model_lock = threading.Lock()
        self._decode_slots = threading.BoundedSemaphore(decode_slots)
        self._connection_slots = threading.BoundedSemaphore(max_connections)
        self.max_bytes, self.log_requests, self.request_timeout = max_bytes, log_requests, timeout
        self.bound_host = address[0].lower()
        super().__init__(address, DigitRequestHandler)

    def process_request(self, request, client_address) -> None:
        """One thread per connection, up to ``max_connections``; beyond that a 503 at once."""
        if not self._connection_slots.acquire(blocking=False):
            _refuse_busy(request)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._connection_slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._connection_slots.release()

    def allows_host(self, host: str) -> bool:
        """Whether a ``Host`` header's name (no port) may reach this server: an IP address,
        ``localhost``, or the name it was bound to; never some other domain (DNS rebinding)."""
        name = host.strip().lower()
        if name.startswith("[") and name.endswith("]"):
            name = name[1:-1]
        try:
            ipaddress.ip_address(name)
            return True
        except ValueError:
            return name in ("localhost", self.bound_host) and name != ""

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"

    def info(self) -> dict:
        return {"model": self.model_name, "classes": [str(c) for c in self.model.classes],
                "input_shape": list(self.model.input_shape), "dataset": self.model.dataset,
                "handwriting": is_handwriting(self.model.dataset, self.model.input_shape)}

    def structure(self) -> dict:
        """The network's layers in the order they run: name, nesting depth, layer, output shape, own parameters."""
        network = getattr(self.model, "model", None)
        if not isinstance(network, Module):
            raise RequestError(HTTPStatus.NOT_FOUND, f"{self.model_name} does not show its layers")
        with self._model_lock:  # summarize runs the network once
            found = summarize(network, tuple(self.model.input_shape))
        return {"total_parameters": found.total_parameters,
                "layers": [{"name": row.name, "depth": row.depth, "layer": row.description,
                            "output_shape": list(row.output_shape), "parameters": row.own_parameters}
                           for row in found.rows]}

    def predict(self, image_bytes: bytes) -> dict:
        """Image file bytes -> the prediction JSON (RequestError 400 if the image is unusable,
        413 if it has too many pixels, 503 if other images keep the decoders busy)."""
        if not self._decode_slots.acquire(timeout=self.request_timeout):
            raise RequestError(HTTPStatus.SERVICE_UNAVAILABLE, "the server is busy with other images; try again")
        try:
            digit = prepare_image(open_drawing(image_bytes), self.model)[0]
        except ValueError as err:
            raise RequestError(HTTPStatus.BAD_REQUEST, str(err)) from None
        finally:
            self._decode_slots.release()
        with self._model_lock:
            probabilities = np.asarray(self.model.predict_proba(digit[None, None]))[0]
        if not np.all(np.isfinite(probabilities)):
            raise RequestError(HTTPStatus.INTERNAL_SERVER_ERROR,
                               f"model {self.model_name} gives probabilities that are not numbers (NaN): its "
                               "weights are broken; train it again or serve another run")
        index = int(np.argmax(probabilities))
        classes = [str(c) for c in self.model.classes]
        return {
            "predicted": classes[index],
            "index": index,
            "probabilities": [round(float(p), 6) for p in probabilities],
            "classes": classes,
            "input": png_data_uri(digit),
        }


def open_drawing(data: bytes) -> Image.Image:
    """An uploaded image, decoded (JPEGs at a reduced scale) and reduced to WORK_SIDE pixels on
    its longer side; RequestError 413 above MAX_DRAWING_PIXELS, ValueError if it is no image."""
    try:
        image = open_image(data, max_pixels=MAX_DRAWING_PIXELS)
    except ValueError as err:
        status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE if "over the limit" in str(err) else HTTPStatus.BAD_REQUEST
        raise RequestError(status, without_reprs(str(err))) from None
    image.thumbnail((WORK_SIDE, WORK_SIDE))
    return image


def host_name(host: str) -> str:
    """The name in a ``Host`` header, without its port: "[::1]:8000" -> "[::1]", "a:80" -> "a"."""
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.split(":", 1)[0] if host.count(":") == 1 else host


_REPR = re.compile(r"<[^<>]*? at 0x[0-9a-fA-F]+>")


def without_reprs(message: str) -> str:
    """``message`` with object reprs such as ``<_io.BytesIO object at 0x7f...>`` replaced by
    "the upload": addresses mean nothing to a user and tell an attacker about the process."""
    return _REPR.sub("the upload", message)


def binding_warning(host: str, port: int) -> str | None:
    """A warning when ``host`` reaches beyond this computer ("" and 0.0.0.0 mean every
    interface), None for loopback addresses and ``localhost``."""
    if host.lower() == "localhost":
        return None
    try:
        if ipaddress.ip_address(host.strip("[]")).is_loopback:
            return None
    except ValueError:
        pass
    where = "every network interface" if host in ("", "0.0.0.0", "::") else host
    return (f"warning: listening on {where}: anyone who can reach this computer on port {port} can use the "
            "page and the model; use --host 127.0.0.1 to keep it to this computer")


def _refuse_busy(connection: socket.socket) -> None:
    """Answer 503 on a connection that gets no thread, without waiting for its request."""
    body = json.dumps({"error": "the server is busy (too many connections); try again"}).encode()
    head = (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    try:
        connection.settimeout(1.0)
        connection.sendall(head + body)
    except OSError:
        pass  # the client is gone or not reading: nothing more to do


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

    def setup(self) -> None:
        self.timeout = self.server.request_timeout  # the socket timeout of every read and write
        super().setup()

    def do_GET(self) -> None:
        self._respond_safely(self._get)

    def do_POST(self) -> None:
        self._respond_safely(self._post)

    def _respond_safely(self, route) -> None:
        try:
            self._answer(route)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True  # the browser went away (page closed): nobody to answer

    def _answer(self, route) -> None:
        try:
            self._check_host_and_origin()
            route()
        except (BrokenPipeError, ConnectionResetError):
            raise
        except RequestError as err:
            self._send_json({"error": without_reprs(str(err))}, err.status, err.headers)
        except Exception as err:  # noqa: BLE001 -- one bad request must not take the page down
            self.log_error("internal error on %s: %r", self.path, err)
            self._send_json({"error": without_reprs(f"internal error: {type(err).__name__}: {err}")},
                            HTTPStatus.INTERNAL_SERVER_ERROR)

    def _check_host_and_origin(self) -> None:
        """403 unless Host names this server and any Origin is this server's own page."""
        host = self.headers.get("Host", "")
        if not host or not self.server.allows_host(host_name(host)):
            self.close_connection = True
            raise RequestError(HTTPStatus.FORBIDDEN, f"Host {host!r} is not this server; open {self.server.url}")
        origin = self.headers.get("Origin")
        if origin is not None and origin != f"http://{host}":
            self.close_connection = True
            raise RequestError(HTTPStatus.FORBIDDEN, f"requests from other pages ({origin}) are refused")

    def _get(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/info":
            self._send_json(self.server.info())
        elif path == "/structure":
            self._send_json(self.server.structure())
        elif path == "/predict":
            raise RequestError(HTTPStatus.METHOD_NOT_ALLOWED, "/predict takes a POST with an image; GET is not allowed",
                               {"Allow": "POST"})
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
        length = self._body_length()
        content_type = self.headers.get("Content-Type", "")
        if not content_type.startswith(POST_TYPES):
            self.close_connection = True
            raise RequestError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                               f"Content-Type {content_type or '(none)'} is not accepted; POST an image (image/png, "
                               "image/jpeg, ..., application/octet-stream) or application/json {\"image\": data URI}")
        body = self._read_exactly(length)
        image_bytes = image_bytes_from_body(body, content_type)
        self._send_json(self.server.predict(image_bytes))

    def _body_length(self) -> int:
        """The announced body length, refused before reading when it is over the server's limit."""
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
        return length

    def _read_exactly(self, length: int) -> bytes:
        """``length`` body bytes within the server's timeout in all (not per read), else 408."""
        deadline = time.monotonic() + self.server.request_timeout
        chunks, missing = [], length
        while missing > 0:
            try:
                chunk = self.rfile.read1(min(missing, 65536)) if time.monotonic() < deadline else None
            except TimeoutError:
                chunk = None
            if not chunk:
                self.close_connection = True
                raise RequestError(HTTPStatus.REQUEST_TIMEOUT,
                                   f"the request body stopped after {length - missing} of {length} bytes")
            chunks.append(chunk)
            missing -= len(chunk)
        return b"".join(chunks)

    def _send_json(self, payload: dict, status: HTTPStatus = HTTPStatus.OK,
                   headers: dict[str, str] | None = None) -> None:
        self._send(json.dumps(payload, allow_nan=False).encode("utf-8"), "application/json", status, headers)

    def _send(self, body: bytes, content_type: str, status: HTTPStatus = HTTPStatus.OK,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
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
