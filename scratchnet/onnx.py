"""``scratchnet.onnx.export(model, example_input_shape, path)`` and ``scratchnet.onnx.load(path)``.

The ONNX exporter and importer of ``scratchnet.interop`` under the names the workflow
uses (``pip install 'scratchnet[onnx]'`` provides the ``onnx`` package they need)::

    import scratchnet.onnx
    scratchnet.onnx.export(model, (1, 28, 28), "model.onnx")   # dynamic batch, weights named by state_dict keys
    graph = scratchnet.onnx.load("model.onnx")                  # a trainable module: forward and backward
"""
from .interop.onnx_export import export
from .interop.onnx_import import load

__all__ = ["export", "load"]
