"""``scratchnet serve``: a local page to draw a digit and watch the network classify it."""
from .app import MAX_REQUEST_BYTES, DigitServer

__all__ = ["DigitServer", "MAX_REQUEST_BYTES"]
