"""Interoperability: models in and out of scratchnet through open, pickle-free formats.

- ``onnx_export``: any model built from the engine's modules -> an ONNX graph (one exporter
  per module class, in one registry);
- ``onnx_import``: an ONNX graph -> ``OnnxGraph``, a trainable scratchnet module (one
  importer per ONNX operator, in one registry);
- ``safetensors_io``: a ``state_dict`` under PyTorch's keys <-> a ``.safetensors`` file;
- ``onnx_graph`` and ``graph_ops``: the container and the operators an imported graph runs.

This package sits above the engine and below ``train``, which uses it for ``--init-from``
(``scratchnet.train.pretrained``): it imports ``scratchnet.nn`` only. ``onnx``, ``onnxruntime``
and ``safetensors`` are optional extras, imported on first use through ``require``.
"""
from __future__ import annotations

import importlib

# The pip extra that provides each optional package.
EXTRAS = {"onnx": "onnx", "onnxruntime": "onnx", "safetensors": "safetensors"}


class MissingExtraError(ImportError, ValueError):
    """An optional package is not installed; the message says which extra to install. A ValueError
    too, so the commands report it as they report a file they cannot read."""


def require(package: str):
    """Import the optional ``package`` or raise MissingExtraError saying what to install."""
    try:
        return importlib.import_module(package)
    except ImportError:
        extra = EXTRAS[package.split(".")[0]]
        raise MissingExtraError(f"this needs the {package.split('.')[0]!r} package, which is not installed: "
                                f"pip install 'scratchnet[{extra}]'") from None
