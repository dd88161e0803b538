"""When layers keep what their backward needs: ``nn.enable_grad()``.

A layer's forward keeps its inputs (or whatever its backward reads) in training mode, and in
eval mode keeps nothing, so predicting costs no memory beyond the output. Backpropagating
through an eval-mode model (BatchNorm on its running statistics, Dropout off) is still
meaningful: the gradient of a loss with respect to the input image for a saliency map or an
adversarial example (PyTorch's FGSM tutorial calls ``model.eval()`` and then ``backward``), or
fine-tuning with frozen BatchNorm statistics. Inside ``with nn.enable_grad():`` eval-mode forwards
keep their state too, and ``backward`` then runs the eval-mode derivative (BatchNorm's running
statistics are constants; Dropout is the identity):

    model.eval()
    with nn.enable_grad():
        loss = loss_fn(model(x), y)
    dx = model.backward(loss_fn.backward())    # dL/dx through the eval-mode network

The setting is per thread, so a prediction server's threads are not affected.
"""
from __future__ import annotations

import contextlib
import threading

_local = threading.local()


def is_enabled() -> bool:
    """True inside ``enable_grad()``: eval-mode forwards keep what backward needs."""
    return getattr(_local, "depth", 0) > 0


@contextlib.contextmanager
def enable_grad():
    """Let eval-mode forwards in this block keep their state for backward (module docstring)."""
    _local.depth = getattr(_local, "depth", 0) + 1
    try:
        yield
    finally:
        _local.depth -= 1
