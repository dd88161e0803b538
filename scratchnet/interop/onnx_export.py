"""Export a scratchnet model to ONNX: one exporter per module class, in the registry ``EXPORTERS``.

``export(model, example_input_shape, path)`` walks the model the way its ``forward`` runs:
each module's exporter receives the ``Value`` flowing into it (an ONNX value name and the
array scratchnet computes for it on an example batch) and emits the ONNX nodes that compute
the same thing, returning the Value they produce. Running the example batch alongside gives
every exporter the shapes it needs and lets ``export`` check the graph's output shape.

- the graph has one input ``input`` of shape (batch, *example_input_shape), float32, with a
  dynamic batch dimension, and one output ``output`` (batch, ...);
- weights are initializers named by the model's ``state_dict`` keys ("0.weight", ...), so
  Netron, onnxruntime and ``onnx_import`` show the same names as ``model.state_dict()``;
  constants of the structure (a dropout ratio, a reshape target) are Constant nodes;
- Dropout is kept as an ONNX Dropout node (the identity at inference), so a model imported
  back trains with the same dropout;
- BatchNorm exports its inference form (running statistics), as ``torch.onnx.export`` does.

A new module class is one entry::

    @exports(nn.Tanh)
    def _tanh(b: GraphBuilder, m: nn.Tanh, prefix: str, x: Value) -> Value:
        return b.apply(m, x, "Tanh", [x.name])

A class without an entry (exact class: a subclass may compute something else) fails with
an error naming it and its place in the model.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .. import nn
from ..nn.conv import PADDING_MODES
from . import require

OPSET = 21  # Gelu is an operator from opset 20 on, GroupNormalization with per-channel scales from 21
IR_VERSION = 10  # the IR version of opsets 20 and 21; onnxruntime 1.18 and later read it
INPUT, OUTPUT = "input", "output"


class ExportError(ValueError):
    """The model holds a module (or a setting of one) that ONNX export does not cover."""


@dataclass
class Value:
    """An ONNX value: its name in the graph and scratchnet's array for it on the example batch."""

    name: str
    array: np.ndarray


class GraphBuilder:
    """Collects the nodes and initializers of the graph being exported (``onnx.helper`` objects)."""

    def __init__(self):
        self.onnx = require("onnx")
        self.nodes: list = []
        self.initializers: list = []
        self._names: set[str] = {INPUT}
        self.prefix = ""  # the path of the module being exported: its nodes' names

    def unique(self, hint: str) -> str:
        """``hint``, or ``hint_2``, ``hint_3``, ... if it is taken."""
        name, i = hint, 1
        while name in self._names:
            i += 1
            name = f"{hint}_{i}"
        self._names.add(name)
        return name

    def weight(self, prefix: str, name: str, array: np.ndarray) -> str:
        """An initializer named by the state_dict key ``prefix.name``, float32."""
        key = self.unique(f"{prefix}.{name}" if prefix else name)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.asarray(array, np.float32), key))
        return key

    def constant(self, hint: str, array: np.ndarray) -> str:
        """A Constant node holding ``array`` (a structural constant, not a weight)."""
        name = self.unique(hint)
        self.nodes.append(self.onnx.helper.make_node(
            "Constant", [], [name], name=name, value=self.onnx.numpy_helper.from_array(np.asarray(array), name)))
        return name

    def node(self, op: str, inputs: list[str], hint: str, **attrs) -> str:
        """Append node ``op`` reading ``inputs``; returns its output's name."""
        out = self.unique(hint)
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def apply(self, module: nn.Module, x: Value, op: str, inputs: list[str], **attrs) -> Value:
        """One node computing ``module(x)``: the usual exporter of a layer."""
        return Value(self.node(op, inputs, self.prefix or op, **attrs), module(x.array))


Exporter = Callable[[GraphBuilder, nn.Module, str, Value], Value]
EXPORTERS: dict[type, Exporter] = {}


def exports(*classes: type):
    """Register the decorated function as the exporter of ``classes``."""
    def register(fn: Exporter) -> Exporter:
        for cls in classes:
            EXPORTERS[cls] = fn
        return fn
    return register


def export_module(b: GraphBuilder, module: nn.Module, prefix: str, x: Value) -> Value:
    """Emit ``module`` applied to ``x``; ``prefix`` is its path in the model ("" for the model itself)."""
    fn = EXPORTERS.get(type(module))
    if fn is None:
        where = f"at {prefix!r}" if prefix else "(the model itself)"
        raise ExportError(f"cannot export {type(module).__name__} {where} to ONNX: no exporter is registered for it; "
                          f"add one with @exports({type(module).__name__}) in scratchnet/interop/onnx_export.py")
    outer, b.prefix = b.prefix, prefix
    try:
        return fn(b, module, prefix, x)
    finally:
        b.prefix = outer


def child_prefix(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


# -- the exporters -----------------------------------------------------------------------------------------------
@exports(nn.Sequential)
def _sequential(b, m, prefix, x):
    for name, child in m._modules.items():
        x = export_module(b, child, child_prefix(prefix, name), x)
    return x


@exports(nn.Identity)
def _identity(b, m, prefix, x):
    return x  # no node: the value flows on (an Identity output is added only when the whole model is one)


def _add(b: GraphBuilder, left: Value, right: Value, name: str) -> Value:
    return Value(b.node("Add", [left.name, right.name], name), left.array + right.array)


@exports(nn.Residual)
def _residual(b, m, prefix, x):
    block = export_module(b, m.block, child_prefix(prefix, "block"), x)
    shortcut = export_module(b, m.shortcut, child_prefix(prefix, "shortcut"), x)
    return _add(b, block, shortcut, prefix or "Add")


@exports(nn.BasicBlock)
def _basic_block(b, m, prefix, x):
    """relu2(bn2(conv2(relu1(bn1(conv1(x))))) + downsample(x)), as BasicBlock.forward computes it."""
    out = x
    for name in ("conv1", "bn1", "relu1", "conv2", "bn2"):
        out = export_module(b, getattr(m, name), child_prefix(prefix, name), out)
    identity = export_module(b, m.downsample, child_prefix(prefix, "downsample"), x)
    total = _add(b, out, identity, child_prefix(prefix, "add"))
    return export_module(b, m.relu2, child_prefix(prefix, "relu2"), total)


@exports(nn.PadShortcut)
def _pad_shortcut(b, m, prefix, x):
    """Every s-th pixel (Slice with steps s on the spatial axes), then zero channels before and after (Pad)."""
    s, before = m.stride, (m.out_channels - m.in_channels) // 2
    after = m.out_channels - m.in_channels - before
    big = np.iinfo(np.int64).max
    args = [b.constant(f"{prefix}.{what}", np.array(v, np.int64))
            for what, v in (("starts", [0, 0]), ("ends", [big, big]), ("axes", [2, 3]), ("steps", [s, s]))]
    kept = b.node("Slice", [x.name, *args], f"{prefix}.slice")
    pads = b.constant(f"{prefix}.pads", np.array([0, before, 0, 0, 0, after, 0, 0], np.int64))
    return Value(b.node("Pad", [kept, pads], prefix or "Pad", mode="constant"), m(x.array))


@exports(nn.Linear)
def _linear(b, m, prefix, x):
    if x.array.ndim != 2:
        raise ExportError(f"Linear at {prefix!r} takes (N, features) input; got {x.array.ndim} dimensions")
    inputs = [x.name, b.weight(prefix, "weight", m.weight.data)]
    if m.bias is not None:
        inputs.append(b.weight(prefix, "bias", m.bias.data))
    return b.apply(m, x, "Gemm", inputs, transB=1)


@exports(nn.Conv2d)
def _conv(b, m, prefix, x):
    inputs = [x.name, b.weight(prefix, "weight", m.weight.data)]
    if m.bias is not None:
        inputs.append(b.weight(prefix, "bias", m.bias.data))
    (top, bottom), (left, right) = m._pads  # padding="same" may pad one more at the end, as torch does
    if m.padding_mode != "zeros" and top + bottom + left + right:  # a Pad copying the border, then no padding
        mode = PADDING_MODES[m.padding_mode]  # np.pad's names, which are ONNX Pad's
        pads = b.constant(f"{prefix}.pads" if prefix else "pads", np.array([0, 0, top, left, 0, 0, bottom, right],
                                                                          np.int64))
        padded = b.node("Pad", [x.name, pads], f"{prefix}.pad" if prefix else "Pad", mode=mode)
        inputs[0], top, bottom, left, right = padded, 0, 0, 0, 0
    return b.apply(m, x, "Conv", inputs, kernel_shape=list(m.kernel_size), strides=list(m.stride),
                   pads=[top, left, bottom, right], dilations=list(m.dilation), group=m.groups)


def _pool_attrs(m) -> dict:
    (ph, pw) = m.padding
    return {"kernel_shape": list(m.kernel_size), "strides": list(m.stride), "pads": [ph, pw, ph, pw],
            "dilations": list(m.dilation), "ceil_mode": int(m.ceil_mode)}


@exports(nn.ConvTranspose2d)
def _conv_transpose(b, m, prefix, x):
    inputs = [x.name, b.weight(prefix, "weight", m.weight.data)]
    if m.bias is not None:
        inputs.append(b.weight(prefix, "bias", m.bias.data))
    (ph, pw) = m.padding
    return b.apply(m, x, "ConvTranspose", inputs, kernel_shape=list(m.kernel_size), strides=list(m.stride),
                   pads=[ph, pw, ph, pw], dilations=list(m.dilation), group=m.groups,
                   output_padding=list(m.output_padding))


@exports(nn.MaxPool2d)
def _maxpool(b, m, prefix, x):
    if m.return_indices:
        raise ExportError(f"{m!r} at {prefix!r} returns indices; only the pooled values are exported")
    return b.apply(m, x, "MaxPool", [x.name], **_pool_attrs(m))


@exports(nn.AvgPool2d)
def _avgpool(b, m, prefix, x):
    if m.divisor_override is not None:
        raise ExportError(f"{m!r} at {prefix!r}: ONNX's AveragePool has no divisor_override")
    return b.apply(m, x, "AveragePool", [x.name], count_include_pad=int(m.count_include_pad), **_pool_attrs(m))


@exports(nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
def _adaptive_pool(b, m, prefix, x):
    """Global pooling to 1x1, or a plain pool when the output size divides the input's (the export
    fixes the image size); other sizes have overlapping windows no single ONNX operator has."""
    kind = "Average" if isinstance(m, nn.AdaptiveAvgPool2d) else "Max"
    if getattr(m, "return_indices", False):
        raise ExportError(f"{m!r} at {prefix!r} returns indices; only the pooled values are exported")
    (h, w), y = x.array.shape[2:], m(x.array)
    (oh, ow) = y.shape[2:]
    if (oh, ow) == (1, 1):
        return Value(b.node(f"Global{kind}Pool", [x.name], prefix or f"Global{kind}Pool"), y)
    if h % oh or w % ow:
        raise ExportError(f"{m!r} at {prefix!r} pools {h}x{w} to {oh}x{ow}: the windows overlap, which ONNX's "
                          "pooling operators cannot express; use an output size that divides the input's")
    kernel = [h // oh, w // ow]
    return Value(b.node(f"{kind}Pool", [x.name], prefix or f"{kind}Pool", kernel_shape=kernel, strides=kernel), y)


@exports(nn.BatchNorm1d, nn.BatchNorm2d)
def _batchnorm(b, m, prefix, x):
    if not m.track_running_stats:
        raise ExportError(f"{m!r} at {prefix!r} keeps no running statistics; its inference output depends on the "
                          "batch, which ONNX's BatchNormalization cannot express")
    channels = m.num_features
    scale = m.weight.data if m.affine else np.ones(channels, np.float32)
    shift = m.bias.data if m.affine else np.zeros(channels, np.float32)
    inputs = [x.name, b.weight(prefix, "weight", scale), b.weight(prefix, "bias", shift),
              b.weight(prefix, "running_mean", m.running_mean), b.weight(prefix, "running_var", m.running_var)]
    return b.apply(m, x, "BatchNormalization", inputs, epsilon=m.eps,
                   momentum=1 - (m.momentum if m.momentum is not None else 0.1))


def _activation(op: str, **attrs_of: Callable[[nn.Module], object]) -> Exporter:
    def exporter(b, m, prefix, x):
        return b.apply(m, x, op, [x.name], **{key: get(m) for key, get in attrs_of.items()})
    return exporter


EXPORTERS.update({
    nn.ReLU: _activation("Relu"),
    nn.Sigmoid: _activation("Sigmoid"),
    nn.Tanh: _activation("Tanh"),
    nn.LeakyReLU: _activation("LeakyRelu", alpha=lambda m: m.negative_slope),
    nn.ELU: _activation("Elu", alpha=lambda m: m.alpha),
    nn.GELU: _activation("Gelu", approximate=lambda m: m.approximate),
    nn.Softmax: _activation("Softmax", axis=lambda m: m.dim),
    nn.LogSoftmax: _activation("LogSoftmax", axis=lambda m: m.dim),
    nn.Mish: _activation("Mish"),
    nn.Hardswish: _activation("HardSwish"),
})


@exports(nn.SiLU)
def _silu(b, m, prefix, x):
    """x·σ(x): ONNX has no SiLU operator."""
    gate = b.node("Sigmoid", [x.name], f"{prefix}.sigmoid" if prefix else "Sigmoid")
    return Value(b.node("Mul", [x.name, gate], prefix or "Mul"), m(x.array))


@exports(nn.ReLU6)
def _relu6(b, m, prefix, x):
    low, high = (b.constant(f"{prefix}.{name}", np.array(v, np.float32)) for name, v in (("min", 0), ("max", 6)))
    return b.apply(m, x, "Clip", [x.name, low, high])


@exports(nn.Softplus)
def _softplus(b, m, prefix, x):
    """log(1 + e^{βx}) / β. ONNX's Softplus has no β and no linear region beyond ``threshold``; the two
    differ there by at most log(1 + e^{-threshold})/β, below float32's resolution for threshold >= 15."""
    if m.threshold < 15:
        raise ExportError(f"{m!r} at {prefix!r}: ONNX's Softplus has no linear region, which differs from this "
                          "one's by more than float32 rounding for threshold < 15")
    if m.beta == 1:
        return b.apply(m, x, "Softplus", [x.name])
    beta = b.constant(f"{prefix}.beta", np.array(m.beta, np.float32))
    scaled = b.node("Mul", [x.name, beta], f"{prefix}.scaled")
    soft = b.node("Softplus", [scaled], f"{prefix}.softplus")
    return Value(b.node("Div", [soft, beta], prefix or "Div"), m(x.array))


@exports(nn.PReLU)
def _prelu(b, m, prefix, x):
    """The slope, one per channel (axis 1), shaped (C, 1, ...) to broadcast as ONNX broadcasts: from the right."""
    shape = (1,) if m.num_parameters == 1 else (m.num_parameters,) + (1,) * (x.array.ndim - 2)
    return b.apply(m, x, "PRelu", [x.name, b.weight(prefix, "weight", m.weight.data.reshape(shape))])


@exports(nn.LayerNorm)
def _layernorm(b, m, prefix, x):
    shape = m.normalized_shape
    scale = b.weight(prefix, "weight", m.weight.data) if m.weight is not None else \
        b.constant(f"{prefix}.ones", np.ones(shape, np.float32))
    inputs = [x.name, scale] + ([b.weight(prefix, "bias", m.bias.data)] if m.bias is not None else [])
    return b.apply(m, x, "LayerNormalization", inputs, axis=-len(shape), epsilon=m.eps)


@exports(nn.GroupNorm)
def _groupnorm(b, m, prefix, x):
    if m.affine:
        scale, shift = b.weight(prefix, "weight", m.weight.data), b.weight(prefix, "bias", m.bias.data)
    else:
        scale = b.constant(f"{prefix}.ones", np.ones(m.num_channels, np.float32))
        shift = b.constant(f"{prefix}.zeros", np.zeros(m.num_channels, np.float32))
    return b.apply(m, x, "GroupNormalization", [x.name, scale, shift], num_groups=m.num_groups, epsilon=m.eps)


@exports(nn.ZeroPad2d)
def _zero_pad(b, m, prefix, x):
    left, right, top, bottom = m.padding
    rank = x.array.ndim
    pads = b.constant(f"{prefix}.pads", np.array([0] * (rank - 2) + [top, left] + [0] * (rank - 2) + [bottom, right],
                                                  np.int64))
    return b.apply(m, x, "Pad", [x.name, pads], mode="constant")


@exports(nn.Unflatten)
def _unflatten(b, m, prefix, x):
    y = m(x.array)
    if m.dim % x.array.ndim == 0:
        raise ExportError(f"{m!r} at {prefix!r} splits the batch dimension, which the export keeps free")
    shape = b.constant(f"{prefix}.shape" if prefix else "shape", np.array([0, *y.shape[1:]], np.int64))
    return Value(b.node("Reshape", [x.name, shape], prefix or "Reshape"), y)


@exports(nn.Upsample)
def _upsample(b, m, prefix, x):
    """Resize of the spatial axes. Nearest: torch's rule (source = floor(dst · in/out)) is ONNX's
    asymmetric coordinates with floor rounding. Bilinear: ONNX's linear mode with align_corners, or
    half_pixel coordinates (source = (dst + 0.5) · in/out - 0.5, edges clamped: torch's rule)."""
    # ONNX's align_corners divides by the unrounded output size in*scale, torch by the rounded one:
    # a fractional scale factor is exported as the output size it gives this input.
    fractional = m.scale_factor is not None and any(float(f) != int(f) for f in m.scale_factor)
    if m.scale_factor is not None and not (m.align_corners and fractional):
        args = ["", b.constant(f"{prefix}.scales", np.array(m.scale_factor, np.float32))]
    else:
        sizes = m.size if m.size is not None else m(x.array).shape[2:]
        args = ["", "", b.constant(f"{prefix}.sizes", np.array(sizes, np.int64))]
    if m.mode == "bilinear":
        return b.apply(m, x, "Resize", [x.name, *args], axes=[2, 3], mode="linear",
                       coordinate_transformation_mode="align_corners" if m.align_corners else "half_pixel")
    return b.apply(m, x, "Resize", [x.name, *args], axes=[2, 3], mode="nearest",
                   coordinate_transformation_mode="asymmetric", nearest_mode="floor")


@exports(nn.Dropout2d)
def _dropout2d(b, m, prefix, x):
    return x  # the identity at inference; ONNX has no channel dropout to keep for training


@exports(nn.Dropout)
def _dropout(b, m, prefix, x):
    ratio = b.constant(f"{prefix}.p" if prefix else "p", np.array(m.p, np.float32))
    return b.apply(m, x, "Dropout", [x.name, ratio])


@exports(nn.Flatten)
def _flatten(b, m, prefix, x):
    y = m(x.array)
    start = m.start_dim % x.array.ndim
    if start == 1 and y.ndim == 2:
        return Value(b.node("Flatten", [x.name], prefix or "Flatten", axis=1), y)
    # Other ranges: Reshape to [0 (the batch), the output's other dimensions].
    shape = b.constant(f"{prefix}.shape" if prefix else "shape", np.array([0, *y.shape[1:]], np.int64))
    return Value(b.node("Reshape", [x.name, shape], prefix or "Reshape"), y)


# -- the model -----------------------------------------------------------------------------------------------------
def export(model: nn.Module, example_input_shape: tuple[int, ...], path: str | Path | None = None, *,
           metadata: dict[str, str] | None = None, opset: int = OPSET):
    """The ONNX model (``onnx.ModelProto``) of ``model`` for inputs of shape (batch, *example_input_shape).

    ``example_input_shape`` is the shape of one example without the batch dimension, e.g.
    (1, 28, 28). ``metadata`` becomes the model's metadata_props (string keys and values).
    The model is checked with ``onnx.checker.check_model(full_check=True)`` and written to
    ``path`` if given. The model's train/eval mode is restored afterwards.
    """
    onnx = require("onnx")
    shape = tuple(int(s) for s in example_input_shape)
    if not shape or min(shape) < 1:
        raise ValueError(f"example_input_shape must be the positive shape of one example without the batch "
                         f"dimension, e.g. (1, 28, 28); got {example_input_shape!r}")
    dtype = next((p.dtype for p in model.parameters()), np.dtype(np.float32))
    b = GraphBuilder()
    was_training = model.training
    model.eval()
    try:
        example = np.random.default_rng(0).normal(size=(2, *shape)).astype(dtype)
        out = export_module(b, model, "", Value(INPUT, example))
    finally:
        model.train(was_training)
    _name_output(b, out)
    graph = onnx.helper.make_graph(
        b.nodes, type(model).__name__, [_tensor_info(onnx, INPUT, shape)],
        [_tensor_info(onnx, OUTPUT, out.array.shape[1:])], initializer=b.initializers)
    proto = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)],
                                   producer_name="scratchnet", ir_version=IR_VERSION)
    onnx.helper.set_model_props(proto, {key: str(value) for key, value in (metadata or {}).items()})
    onnx.checker.check_model(proto, full_check=True)
    if path is not None:
        onnx.save(proto, str(path))
    return proto


def onnxruntime_difference(proto, model: nn.Module, example_input_shape: tuple[int, ...], batch: int = 8) -> float:
    """The largest |onnxruntime's output - scratchnet's| on a batch of random inputs (eval mode)."""
    ort = require("onnxruntime")
    x = np.random.default_rng(1).normal(size=(batch, *example_input_shape)).astype(np.float32)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    was_training = model.training
    try:
        expected = model.eval()(x.astype(next((p.dtype for p in model.parameters()), np.float32)))
    finally:
        model.train(was_training)
    return float(np.max(np.abs(session.run(None, {INPUT: x})[0] - expected)))


def _name_output(b: GraphBuilder, out: Value) -> None:
    """Rename the last value to OUTPUT (an Identity node when the model returns its input unchanged)."""
    if out.name == INPUT:
        b.nodes.append(b.onnx.helper.make_node("Identity", [INPUT], [OUTPUT], name=OUTPUT))
        return
    for node in b.nodes:
        node.input[:] = [OUTPUT if name == out.name else name for name in node.input]
        node.output[:] = [OUTPUT if name == out.name else name for name in node.output]


def _tensor_info(onnx, name: str, shape: tuple[int, ...]):
    return onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, ["batch", *shape])


def metadata_for(meta: dict) -> dict[str, str]:
    """metadata_props of an exported model file: ``scratchnet_model`` (the model file's metadata
    as JSON, see ``scratchnet.train.modelfile``), ``classes`` (JSON list) and ``preprocessing``
    (in words: the exported graph takes preprocessed input, preprocessing is not folded in)."""
    props = {"scratchnet_model": json.dumps(meta)}
    if "classes" in meta:
        props["classes"] = json.dumps(meta["classes"])
    if "preprocess" in meta:
        props["preprocessing"] = describe_preprocess(meta["preprocess"])
    return props


def describe_preprocess(preprocess: dict) -> str:
    """The preprocessing a caller must apply to raw pixels (0..255) before feeding the graph."""
    kind = preprocess.get("kind")
    if kind == "none":
        return "not folded in: feed the raw pixel values 0..255 as float32"
    if kind == "scale":
        return "not folded in: feed pixels / 255 (float32 in [0, 1])"
    return (f"not folded in: feed (pixels / 255 - mean[c]) / std[c] per channel c, with mean={preprocess.get('mean')} "
            f"std={preprocess.get('std')}")
