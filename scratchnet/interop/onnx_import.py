"""Import an ONNX model as a trainable ``OnnxGraph``: one importer per ONNX operator, in ``IMPORTERS``.

``load(path)`` reads the file without running anything from it (no pickle, no external
data files: a tensor stored outside the file is refused), checks every tensor's declared
size against the bytes it holds before converting it, and turns each node into a
scratchnet module:

    Conv -> nn.Conv2d          Gemm, MatMul (by a weight) -> nn.Linear
    MaxPool -> nn.MaxPool2d    AveragePool -> nn.AvgPool2d
    GlobalAveragePool, GlobalMaxPool -> nn.AdaptiveAvgPool2d(1), nn.AdaptiveMaxPool2d(1)
    BatchNormalization -> nn.BatchNorm1d/2d (by the input's rank)
    Relu, LeakyRelu, Elu, Sigmoid, Tanh, Softmax, Gelu -> the nn activations; Erf
    Add, Sub, Mul, Div -> Elementwise    Flatten, Reshape, Dropout, Identity, Slice, Pad (constant)

Initializers are the model's weights: those a layer consumes become its Parameters (and
BatchNorm's running statistics its buffers); a float initializer that Add/Sub/Mul/Div
reads becomes a trainable Parameter too. Constant nodes are constants.

Whatever an importer does not support (an operator, an attribute or an attribute's value,
a weight computed at run time) raises ``UnsupportedOnnxError`` naming the node, the
operator and the attribute: an imported graph computes what the file says or does not load.

A new operator is one entry::

    @imports("Tanh")
    def _tanh(node: NodeView) -> Module:
        return nn.Tanh()
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable

import numpy as np

from .. import nn
from . import require
from .graph_ops import Elementwise, Erf, Identity, Pad, Reshape, Slice
from .onnx_graph import OnnxGraph, Step

MIN_OPSET = 13  # Softmax's axis, Dropout's ratio input and Reshape's allowzero are those of opset 13 on
MAX_FILE_BYTES = 2 ** 31  # protobuf's limit; a larger file is not an ONNX model stored in one file
FLOAT_TYPES = {1: np.float32, 11: np.float64}  # TensorProto.FLOAT, DOUBLE


class UnsupportedOnnxError(ValueError):
    """The file uses an operator, attribute or construct that scratchnet cannot run exactly."""


class NodeView:
    """One ONNX node as its importer sees it: attributes, constant inputs, and errors naming it.

    ``attr(name, default)`` reads an attribute and marks it as understood; after the importer
    returns, an attribute it did not read fails the import. ``weight(i)`` is input i as a
    weight (an initializer, consumed by the layer), ``constant(i)`` input i as any constant.
    """

    def __init__(self, proto, index: int, weights: dict, constants: dict, ranks: dict, opset: int):
        onnx = require("onnx")
        self.proto, self.op, self.opset = proto, proto.op_type, opset
        self.name = proto.name or f"{proto.op_type}_{index}"
        self.attrs = {a.name: onnx.helper.get_attribute_value(a) for a in proto.attribute}
        self._read: set[str] = set()
        self._weights, self._constants, self._ranks = weights, constants, ranks
        self.weight_names: list[str] = []  # initializers this node's layer took as its parameters

    def fail(self, what: str, why: str) -> UnsupportedOnnxError:
        return UnsupportedOnnxError(f"node {self.name!r} (operator {self.op}): {what}: {why}")

    def attr(self, name: str, default=None):
        self._read.add(name)
        value = self.attrs.get(name, default)
        return value.decode() if isinstance(value, bytes) else value

    def expect(self, name: str, default, allowed: Callable[[object], bool], why: str):
        """Read attribute ``name`` and fail unless ``allowed(value)``."""
        value = self.attr(name, default)
        if not allowed(value):
            raise self.fail(f"attribute {name}={value!r}", why)
        return value

    def unread_attributes(self) -> list[str]:
        return sorted(set(self.attrs) - self._read)

    @property
    def inputs(self) -> list[str]:
        return list(self.proto.input)

    def has_input(self, i: int) -> bool:
        return i < len(self.proto.input) and self.proto.input[i] != ""

    def is_constant(self, i: int) -> bool:
        return self.has_input(i) and (self.proto.input[i] in self._weights or self.proto.input[i] in self._constants)

    def weight(self, i: int, what: str) -> np.ndarray:
        name = self.proto.input[i] if self.has_input(i) else None
        if name not in self._weights:
            raise self.fail(f"input {i} ({what})", "must be a weight stored in the file (an initializer); weights "
                                                 "computed while the graph runs are not supported")
        self.weight_names.append(name)
        return self._weights[name]

    def constant(self, i: int, what: str) -> np.ndarray:
        name = self.proto.input[i] if self.has_input(i) else None
        if name in self._constants:
            return self._constants[name]
        if name in self._weights:
            return self._weights[name]
        raise self.fail(f"input {i} ({what})", "must be a constant (an initializer or a Constant node)")

    def rank(self, i: int) -> int | None:
        """The rank of input i, from ONNX shape inference (None when it is not known)."""
        return self._ranks.get(self.proto.input[i])


Importer = Callable[[NodeView], nn.Module]
IMPORTERS: dict[str, Importer] = {}


def imports(*ops: str):
    """Register the decorated function as the importer of ONNX operators ``ops``."""
    def register(fn: Importer) -> Importer:
        for op in ops:
            IMPORTERS[op] = fn
        return fn
    return register


def supported_operators() -> list[str]:
    return sorted([*IMPORTERS, "Constant"])


# -- the importers ---------------------------------------------------------------------------------------------
def _ones(value) -> bool:
    return value is None or all(v == 1 for v in value)


def _explicit_pads(node: NodeView, dims: int) -> list[int]:
    """The pads attribute (begins, then ends); auto_pad VALID is no padding, SAME_UPPER/LOWER are refused."""
    auto = node.expect("auto_pad", "NOTSET", lambda v: v in ("NOTSET", "VALID"), "only explicit pads (NOTSET) or VALID")
    pads = [int(p) for p in node.attr("pads", [0] * 2 * dims)]
    return [0] * 2 * dims if auto == "VALID" else pads


def _symmetric_pads(node: NodeView, dims: int) -> tuple[int, ...]:
    pads = _explicit_pads(node, dims)
    if pads[:dims] != pads[dims:]:
        raise node.fail(f"attribute pads={pads}", "scratchnet pads both sides of an axis equally "
                                                  "(begin and end pads must match)")
    return tuple(pads[:dims])


def _copy_into(param: nn.Parameter, array: np.ndarray) -> None:
    param.data = np.ascontiguousarray(array, dtype=param.data.dtype)


def _kernel(node: NodeView) -> np.ndarray:
    """A (transposed) convolution's weight W, 4-D, matching the kernel_shape attribute."""
    weight = node.weight(1, "W")
    if weight.ndim != 4:
        raise node.fail(f"input W of shape {weight.shape}", "only 2-D convolutions (4-D weights) are supported")
    node.expect("kernel_shape", list(weight.shape[2:]), lambda v: list(v) == list(weight.shape[2:]),
                "must equal the weight's spatial shape")
    return weight


def _with_weights(node: NodeView, layer: nn.Module, weight: np.ndarray) -> nn.Module:
    """``layer`` holding the node's W, and its B when the node has one."""
    _copy_into(layer.weight, weight)
    if node.has_input(2):
        _copy_into(layer.bias, node.weight(2, "B"))
    return layer


@imports("Conv")
def _conv(node: NodeView) -> nn.Module:
    weight = _kernel(node)
    groups = node.attr("group", 1)
    dilations = tuple(node.attr("dilations", [1, 1]))
    strides = tuple(node.attr("strides", [1, 1]))
    padding = _conv_padding(node, weight.shape[2:], strides, dilations)
    out_channels, in_per_group, kh, kw = weight.shape
    if groups < 1 or out_channels % groups:
        raise node.fail(f"attribute group={groups}", f"must divide the {out_channels} output channels")
    return _with_weights(node, nn.Conv2d(in_per_group * groups, out_channels, (kh, kw), stride=strides,
                                         padding=padding, dilation=dilations, groups=groups,
                                         bias=node.has_input(2)), weight)


def _conv_padding(node: NodeView, kernel, strides, dilations) -> tuple[int, int] | str:
    """Symmetric pads as (ph, pw); torch's uneven 'same' split (one more at the end) as "same"."""
    pads = _explicit_pads(node, 2)
    if any(p >= d * (k - 1) + 1 for p, k, d in zip(pads, [*kernel, *kernel], [*dilations, *dilations])):
        raise node.fail(f"attribute pads={pads}", "padding must be smaller than the (dilated) kernel")
    if pads[:2] == pads[2:]:
        return tuple(pads[:2])
    totals = [d * (k - 1) for k, d in zip(kernel, dilations)]
    if list(strides) == [1, 1] and pads == [t // 2 for t in totals] + [t - t // 2 for t in totals]:
        return "same"
    raise node.fail(f"attribute pads={pads}", "scratchnet pads both sides of an axis equally, or as torch's "
                                              "padding='same' (the odd one at the end, stride 1)")


@imports("ConvTranspose")
def _conv_transpose(node: NodeView) -> nn.Module:
    weight = _kernel(node)
    node.expect("output_shape", None, lambda v: v is None, "give pads and output_padding instead")
    groups = node.attr("group", 1)
    in_channels, out_per_group, kh, kw = weight.shape
    if groups < 1 or in_channels % groups:
        raise node.fail(f"attribute group={groups}", f"must divide the {in_channels} input channels")
    layer = nn.ConvTranspose2d(in_channels, out_per_group * groups, (kh, kw), groups=groups, bias=node.has_input(2),
                               stride=tuple(node.attr("strides", [1, 1])), padding=_symmetric_pads(node, 2),
                               output_padding=tuple(node.attr("output_padding", [0, 0])),
                               dilation=tuple(node.attr("dilations", [1, 1])))
    return _with_weights(node, layer, weight)


_LINEAR_COORDINATES = ("half_pixel", "pytorch_half_pixel", "align_corners")


@imports("Resize")
def _resize(node: NodeView) -> nn.Module:
    """Upsampling of the spatial axes with torch's rules: nearest (asymmetric coordinates, floor) or
    bilinear (half_pixel or align_corners coordinates; pytorch_half_pixel where no axis shrinks to
    one pixel, the only place it differs from torch's rule)."""
    mode = node.expect("mode", "nearest", lambda v: v in ("nearest", "linear"), "only nearest or (bi)linear resizing")
    if mode == "nearest":
        node.expect("coordinate_transformation_mode", "half_pixel", lambda v: v == "asymmetric",
                    "only asymmetric coordinates (torch's nearest rule)")
        node.expect("nearest_mode", "round_prefer_floor", lambda v: v == "floor", "only floor (torch's nearest rule)")
        options = {}
    else:
        coordinates = node.expect("coordinate_transformation_mode", "half_pixel", lambda v: v in _LINEAR_COORDINATES,
                                  "only half_pixel or align_corners coordinates (torch's bilinear rules)")
        node.attr("nearest_mode")  # used by the nearest mode only
        options = {"mode": "bilinear", "align_corners": coordinates == "align_corners"}
    node.expect("antialias", 0, lambda v: v == 0, "no antialiasing")
    node.expect("exclude_outside", 0, lambda v: v == 0, "only 0")
    node.expect("keep_aspect_ratio_policy", "stretch", lambda v: v == "stretch", "only stretch")
    node.attr("cubic_coeff_a"), node.attr("extrapolation_value")  # used by other modes only
    axes = list(node.attr("axes", [0, 1, 2, 3]))
    if [a % 4 for a in axes] not in ([0, 1, 2, 3], [2, 3]) or node.rank(0) != 4:
        raise node.fail(f"attribute axes={axes}", "only (N, C, H, W) input resized along H and W")
    if node.has_input(3):
        sizes = [int(v) for v in node.constant(3, "sizes").reshape(-1)]
        if len(sizes) != 2 or len(axes) != 2:  # sizes of all four axes would fix the batch size
            raise node.fail(f"input sizes={sizes}", "only sizes of the two spatial axes (with axes=[2, 3])")
        _check_pytorch_half_pixel(node, mode, min(sizes[-2:]) > 1)
        return nn.Upsample(size=tuple(sizes[-2:]), **options)
    scales = [float(v) for v in node.constant(2, "scales").reshape(-1)]
    if len(scales) != len(axes) or (len(scales) == 4 and scales[:2] != [1.0, 1.0]):
        raise node.fail(f"input scales={scales}", "only the spatial axes may be scaled")
    _check_pytorch_half_pixel(node, mode, min(scales[-2:]) >= 1)
    if options.get("align_corners") and any(scale != int(scale) for scale in scales[-2:]):
        raise node.fail(f"input scales={scales} with align_corners",
                        "only whole scales (ONNX measures the corners on the unrounded output size, torch on the "
                        "rounded one); give sizes instead")
    return nn.Upsample(scale_factor=tuple(scales[-2:]), **options)


def _check_pytorch_half_pixel(node: NodeView, mode: str, no_axis_of_one: bool) -> None:
    """pytorch_half_pixel maps an output axis of one pixel to source 0, torch's rule to the centre."""
    if mode == "linear" and node.attr("coordinate_transformation_mode") == "pytorch_half_pixel" and not no_axis_of_one:
        raise node.fail("coordinate_transformation_mode='pytorch_half_pixel' with a shrinking resize",
                        "half_pixel coordinates (torch's rule) or sizes larger than one pixel")


@imports("Gemm")
def _gemm(node: NodeView) -> nn.Module:
    node.expect("transA", 0, lambda v: v == 0, "the input must not be transposed (transA=0)")
    alpha, beta = node.attr("alpha", 1.0), node.attr("beta", 1.0)
    b = node.weight(1, "B")
    weight = alpha * (b if node.attr("transB", 0) else b.T)
    return _linear(node, weight, beta * node.weight(2, "C") if node.has_input(2) else None)


@imports("MatMul")
def _matmul(node: NodeView) -> nn.Module:
    b = node.weight(1, "B")
    if b.ndim != 2:
        raise node.fail(f"input B of shape {b.shape}", "only a 2-D weight matrix is supported")
    return _linear(node, b.T, None)


def _linear(node: NodeView, weight: np.ndarray, bias: np.ndarray | None) -> nn.Module:
    if weight.ndim != 2:
        raise node.fail(f"weight of shape {weight.shape}", "must be a matrix")
    out_features, in_features = weight.shape
    if bias is not None:
        if bias.size not in (1, out_features) or bias.ndim > 2 or (bias.ndim == 2 and bias.shape[0] != 1):
            raise node.fail(f"input C of shape {bias.shape}", f"the bias must be one per output ({out_features},)")
        bias = np.broadcast_to(bias.reshape(-1), (out_features,))
    if node.rank(0) not in (None, 2):
        raise node.fail(f"input A of rank {node.rank(0)}", "a Linear layer takes (N, features) input")
    linear = nn.Linear(in_features, out_features, bias=bias is not None)
    _copy_into(linear.weight, weight)
    if bias is not None:
        _copy_into(linear.bias, bias)
    return linear


def _pool_args(node: NodeView) -> dict:
    kernel = node.attr("kernel_shape")
    if kernel is None or len(kernel) != 2:
        raise node.fail(f"attribute kernel_shape={kernel}", "only 2-D pooling is supported")
    args = {"kernel_size": tuple(kernel), "stride": tuple(node.attr("strides", [1, 1])),
            "padding": _symmetric_pads(node, 2), "ceil_mode": bool(node.attr("ceil_mode", 0))}
    if any(p > k // 2 for p, k in zip(args["padding"], args["kernel_size"])):  # as in PyTorch
        raise node.fail(f"attribute pads={list(args['padding']) * 2}", "padding must be at most half the kernel")
    return args


@imports("MaxPool")
def _maxpool(node: NodeView) -> nn.Module:
    node.expect("storage_order", 0, lambda v: v == 0, "only row-major indices")
    return nn.MaxPool2d(**_pool_args(node), dilation=tuple(node.attr("dilations", [1, 1])))


@imports("AveragePool")
def _avgpool(node: NodeView) -> nn.Module:
    node.expect("dilations", None, _ones, "only undilated average pooling (as torch's AvgPool2d)")
    return nn.AvgPool2d(**_pool_args(node), count_include_pad=bool(node.attr("count_include_pad", 0)))


@imports("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(node: NodeView) -> nn.Module:
    if node.rank(0) != 4:  # the adaptive pools would read a rank-3 input as one unbatched image
        raise node.fail(f"input X of rank {node.rank(0)}", "only (N, C, H, W) input, of a rank shape inference knows")
    return nn.AdaptiveAvgPool2d(1) if node.op == "GlobalAveragePool" else nn.AdaptiveMaxPool2d(1)


@imports("BatchNormalization")
def _batchnorm(node: NodeView) -> nn.Module:
    node.expect("training_mode", 0, lambda v: v == 0, "only the inference form (training_mode=0) is imported; "
                                                      "the module trains with batch statistics in train mode")
    scale, bias = node.weight(1, "scale"), node.weight(2, "B")
    mean, var = node.weight(3, "input_mean"), node.weight(4, "input_var")
    rank = node.rank(0)
    if rank not in (None, 2, 3, 4):
        raise node.fail(f"input X of rank {rank}", "BatchNorm1d takes rank 2 or 3, BatchNorm2d rank 4")
    cls = nn.BatchNorm1d if rank in (2, 3) else nn.BatchNorm2d
    momentum = node.expect("momentum", 0.9, lambda v: 0 <= v <= 1, "must be in [0, 1]")
    bn = cls(scale.shape[0], eps=node.attr("epsilon", 1e-5), momentum=1 - momentum)
    _copy_into(bn.weight, scale)
    _copy_into(bn.bias, bias)
    bn.running_mean[...] = mean
    bn.running_var[...] = var
    return bn


def _softmax(node: NodeView) -> nn.Module:
    return nn.Softmax(dim=node.attr("axis", -1))


IMPORTERS.update({
    "Relu": lambda node: nn.ReLU(),
    "Sigmoid": lambda node: nn.Sigmoid(),
    "Tanh": lambda node: nn.Tanh(),
    "Erf": lambda node: Erf(),
    "Identity": lambda node: Identity(),
    "LeakyRelu": lambda node: nn.LeakyReLU(node.attr("alpha", 0.01)),
    "Elu": lambda node: nn.ELU(node.attr("alpha", 1.0)),
    "Gelu": lambda node: nn.GELU(node.expect("approximate", "none", lambda v: v in ("none", "tanh"), "none or tanh")),
    "Softmax": _softmax,
    "LogSoftmax": lambda node: nn.LogSoftmax(dim=node.attr("axis", -1)),
    "Mish": lambda node: nn.Mish(),
    "HardSwish": lambda node: nn.Hardswish(),
    # ONNX's log(1 + e^x) and torch's (linear beyond x > 20) differ there by < 2.1e-9, below float32 rounding
    "Softplus": lambda node: nn.Softplus(),
})


@imports("Clip")
def _clip(node: NodeView) -> nn.Module:
    low = float(node.constant(1, "min")) if node.has_input(1) else None
    high = float(node.constant(2, "max")) if node.has_input(2) else None
    if (low, high) == (0.0, 6.0):
        return nn.ReLU6()
    if (low, high) == (0.0, None):
        return nn.ReLU()
    raise node.fail(f"inputs min={low}, max={high}", "only Clip(0, 6) (ReLU6) and Clip(0) (ReLU)")


@imports("PRelu")
def _prelu(node: NodeView) -> nn.Module:
    slope, rank = node.weight(1, "slope"), node.rank(0)
    per_channel = rank is not None and rank >= 2 and slope.shape == (slope.size,) + (1,) * (rank - 2)
    if slope.size != 1 and not per_channel:
        raise node.fail(f"input slope of shape {slope.shape}", "only one slope, or one per channel (axis 1) "
                                                              "shaped (C, 1, ...) for the input's rank")
    prelu = nn.PReLU(slope.size)
    _copy_into(prelu.weight, slope.reshape(-1))
    return prelu


@imports("LayerNormalization")
def _layernorm(node: NodeView) -> nn.Module:
    node.expect("stash_type", 1, lambda v: v == 1, "only float32 statistics")
    axis, rank = node.attr("axis", -1), node.rank(0)
    if axis >= 0 and rank is None:
        raise node.fail(f"attribute axis={axis}", "needs the input's rank, which shape inference could not tell")
    count = -axis if axis < 0 else rank - axis
    trainable = node.inputs[1] in node._weights
    scale = node.weight(1, "Scale") if trainable else node.constant(1, "Scale")
    if scale.ndim != count or (not trainable and not np.all(scale == 1)):
        raise node.fail(f"input Scale of shape {scale.shape}", f"must be a weight of the {count} normalised "
                                                               "dimensions (or constant ones)")
    has_bias = node.has_input(2)
    if has_bias and not trainable:
        raise node.fail("input B", "a bias needs a weight Scale")
    norm = nn.LayerNorm(scale.shape, eps=node.attr("epsilon", 1e-5), elementwise_affine=trainable, bias=has_bias)
    if trainable:
        _copy_into(norm.weight, scale)
    if has_bias:
        _copy_into(norm.bias, node.weight(2, "B").reshape(scale.shape))
    return norm


def _channel_affine(node: NodeView) -> tuple[np.ndarray, np.ndarray, bool]:
    """(scale, bias, affine) of a per-channel normalisation: weights (trainable), or constant ones and zeros."""
    weights = [node.inputs[i] in node._weights for i in (1, 2)]
    if all(weights):
        scale, shift, affine = node.weight(1, "scale"), node.weight(2, "bias"), True
    else:
        scale, shift, affine = node.constant(1, "scale"), node.constant(2, "bias"), False
        if any(weights) or not (np.all(scale == 1) and np.all(shift == 0)):
            raise node.fail("inputs scale and bias", "must both be weights, or constant ones and zeros")
    if scale.ndim != 1 or scale.shape != shift.shape:
        raise node.fail(f"input scale of shape {scale.shape}", "scale and bias must be one value per channel")
    return scale, shift, affine


def _group_norm(node: NodeView, groups: int, scale: np.ndarray, shift: np.ndarray, affine: bool) -> nn.Module:
    norm = nn.GroupNorm(groups, scale.size, eps=node.attr("epsilon", 1e-5), affine=affine)
    if affine:
        _copy_into(norm.weight, scale)
        _copy_into(norm.bias, shift)
    return norm


@imports("GroupNormalization")
def _groupnorm(node: NodeView) -> nn.Module:
    if node.opset < 21:
        raise node.fail(f"opset {node.opset}", "before opset 21 GroupNormalization scales per group; scratchnet "
                                               "imports the per-channel form of opset 21")
    node.expect("stash_type", 1, lambda v: v == 1, "only float32 statistics")
    scale, shift, affine = _channel_affine(node)
    groups = node.attr("num_groups")
    if groups is None or groups < 1 or scale.size % groups:
        raise node.fail(f"attribute num_groups={groups}", f"must divide the {scale.size} channels")
    return _group_norm(node, groups, scale, shift, affine)


@imports("InstanceNormalization")
def _instancenorm(node: NodeView) -> nn.Module:
    """Instance normalisation is GroupNorm with one channel per group."""
    scale, shift, affine = _channel_affine(node)
    return _group_norm(node, scale.size, scale, shift, affine)


@imports("Add", "Sub", "Mul", "Div")
def _elementwise(node: NodeView) -> nn.Module:
    fixed = [i for i in (0, 1) if node.is_constant(i)]
    if len(fixed) == 2:
        raise node.fail("inputs", "both operands are constants; fold them before exporting")
    if not fixed:
        return Elementwise(node.op)
    position = fixed[0]
    name = node.proto.input[position]
    operand = node.constant(position, "operand")
    trainable = name in node._weights and operand.dtype.kind == "f"
    if trainable:
        node.weight(position, "operand")
    elif operand.dtype.kind not in "fiu":
        raise node.fail(f"input {position}", f"a {operand.dtype} operand is not supported")
    return Elementwise(node.op, operand, position, trainable)


@imports("Flatten")
def _flatten(node: NodeView) -> nn.Module:
    node.expect("axis", 1, lambda v: v == 1, "only axis=1 (keep the batch dimension, flatten the rest)")
    return nn.Flatten()


@imports("Reshape")
def _reshape(node: NodeView) -> nn.Module:
    shape = node.constant(1, "shape")
    if node.attr("allowzero", 0) and 0 in shape:
        raise node.fail("attribute allowzero=1", "a 0 in the target shape must mean 'copy this dimension'")
    return Reshape(tuple(int(s) for s in shape.reshape(-1)))


@imports("Slice")
def _slice(node: NodeView) -> nn.Module:
    starts, ends = node.constant(1, "starts").reshape(-1), node.constant(2, "ends").reshape(-1)
    axes = node.constant(3, "axes").reshape(-1) if node.has_input(3) else np.arange(len(starts))
    steps = node.constant(4, "steps").reshape(-1) if node.has_input(4) else np.ones(len(starts), np.int64)
    if 0 in steps or not len(starts) == len(ends) == len(axes) == len(steps):
        raise node.fail("inputs starts, ends, axes, steps", "must have one length, with nonzero steps")
    return Slice(starts, ends, axes, steps)


@imports("Pad")
def _pad(node: NodeView) -> nn.Module:
    mode = node.expect("mode", "constant", lambda v: v in Pad.MODES, f"only {', '.join(Pad.MODES)} padding")
    pads = node.constant(1, "pads").reshape(-1)
    if (pads < 0).any():
        raise node.fail(f"input pads={pads.tolist()}", "negative pads (cropping) are not supported")
    if node.has_input(3):
        axes, rank = node.constant(3, "axes").reshape(-1), node.rank(0)
        if rank is None:
            raise node.fail("input axes", "needs the input's rank, which shape inference could not tell")
        full = np.zeros(2 * rank, np.int64)
        for i, axis in enumerate(axes % rank):
            full[axis], full[rank + axis] = pads[i], pads[len(axes) + i]
        pads = full
    value = float(node.constant(2, "constant_value").reshape(-1)[0]) if node.has_input(2) else 0.0
    return Pad(pads, value, mode)


@imports("Dropout")
def _dropout(node: NodeView) -> nn.Module:
    node.attr("seed")  # the mask's seed: scratchnet draws masks from its own generator
    if node.has_input(2) and bool(node.constant(2, "training_mode")):
        raise node.fail("input training_mode", "must be false (dropout is active in scratchnet's train mode)")
    ratio = float(node.constant(1, "ratio")) if node.has_input(1) else 0.5
    return nn.Dropout(ratio)


# -- reading the file ------------------------------------------------------------------------------------------
def _tensor(tensor, where: str) -> np.ndarray:
    """``tensor`` as a NumPy array, after checking it holds as many values as its dims declare."""
    onnx = require("onnx")
    if tensor.data_location == onnx.TensorProto.EXTERNAL or tensor.external_data:
        raise UnsupportedOnnxError(f"{where}: tensor {tensor.name!r} is stored in an external file; scratchnet "
                                   "reads self-contained .onnx files only")
    dims = [int(d) for d in tensor.dims]
    if any(d < 0 for d in dims):
        raise ValueError(f"{where}: tensor {tensor.name!r} declares a negative dimension {dims}")
    count = int(np.prod(dims, dtype=np.int64)) if dims else 1
    try:
        itemsize = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
    except (KeyError, TypeError, ValueError):
        raise UnsupportedOnnxError(f"{where}: tensor {tensor.name!r} has unsupported element type "
                                   f"{tensor.data_type}") from None
    held = len(tensor.raw_data) // itemsize if tensor.raw_data else max(
        len(tensor.float_data), len(tensor.int32_data), len(tensor.int64_data), len(tensor.double_data),
        len(tensor.uint64_data), len(tensor.string_data))
    if held != count:
        raise ValueError(f"{where}: tensor {tensor.name!r} declares {dims} ({count} values) but holds {held}; "
                         "the file is corrupted")
    return onnx.numpy_helper.to_array(tensor)


def initializers(proto, where: str) -> dict[str, np.ndarray]:
    """The model's initializers (its weights) by name, each checked against its declared size."""
    return {t.name: _tensor(t, where) for t in proto.graph.initializer}


def read_model(path: str | Path):
    """The ``onnx.ModelProto`` in ``path``, checked: a file, under 2 GiB, the default domain at opset >= 13."""
    onnx = require("onnx")
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path} does not exist (expected an .onnx model file)")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ValueError(f"{path} is {size:,} bytes, more than an ONNX file stored in one piece can be")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # protobuf raises its own DecodeError
        raise ValueError(f"{path} is not an ONNX model file: {err}") from None
    check_opset(proto, str(path))
    return proto


def check_opset(proto, where: str) -> None:
    opsets = {o.domain or "ai.onnx": o.version for o in proto.opset_import}
    other = sorted(set(opsets) - {"ai.onnx"})
    if other:
        raise UnsupportedOnnxError(f"{where} uses operator domains {', '.join(other)}; scratchnet supports the "
                                   "default domain (ai.onnx) only")
    if opsets.get("ai.onnx", 0) < MIN_OPSET:
        raise UnsupportedOnnxError(f"{where} uses opset {opsets.get('ai.onnx')}; scratchnet imports opset "
                                   f"{MIN_OPSET} and later (convert it with onnx.version_converter)")


_TO_MATRIX = {"Flatten", "Gemm", "MatMul"}  # their outputs are (N, features) where scratchnet imports them


def _ranks(proto) -> dict[str, int]:
    """The rank of the values: from ONNX shape inference, and where it stops (an operator without an
    inference function, e.g. GroupNormalization-21 in onnx 1.23) carried on through the nodes:
    a matrix after Flatten/Gemm/MatMul, the target's length after Reshape, the largest input rank
    otherwise (the operators scratchnet imports keep or broadcast their input's rank)."""
    onnx = require("onnx")
    try:
        graph = onnx.shape_inference.infer_shapes(proto).graph
    except Exception:  # inference is a help for choosing layers, never required
        graph = proto.graph
    ranks = {v.name: len(v.type.tensor_type.shape.dim) for v in [*graph.input, *graph.value_info, *graph.output]
             if v.type.tensor_type.HasField("shape")}
    ranks.update({t.name: len(t.dims) for t in proto.graph.initializer})
    for node in proto.graph.node:
        if not node.output or node.output[0] in ranks:
            continue
        if node.op_type in _TO_MATRIX:
            ranks[node.output[0]] = 2
        elif node.op_type == "Reshape" and node.input[1] in ranks and ranks[node.input[1]] == 1:
            shape = next((t for t in proto.graph.initializer if t.name == node.input[1]), None)
            if shape is not None:
                ranks[node.output[0]] = int(shape.dims[0])
        elif node.op_type != "Reshape" and all(name in ranks for name in node.input if name):
            ranks[node.output[0]] = max((ranks[name] for name in node.input if name), default=0)
    return ranks


def _constant_node(node: NodeView) -> np.ndarray:
    onnx = require("onnx")
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if key in node.attrs:
            node.attr(key)
            break
    else:
        raise node.fail(f"attribute {', '.join(node.attrs) or '(none)'}", "only value, value_float(s) and "
                                                                         "value_int(s) constants are supported")
    unread = node.unread_attributes()
    if unread:
        raise node.fail(f"attribute {unread[0]}", "not supported")
    value = node.proto.attribute[[a.name for a in node.proto.attribute].index(key)]
    if key == "value":
        return _tensor(value.t, f"node {node.name!r}")
    dtype = np.float32 if key.startswith("value_float") else np.int64
    return np.array(onnx.helper.get_attribute_value(value), dtype=dtype)


def from_proto(proto, where: str = "ONNX model") -> OnnxGraph:
    """The ``OnnxGraph`` of an ``onnx.ModelProto`` (in training mode, float32)."""
    check_opset(proto, where)
    graph = proto.graph
    weights = initializers(proto, where)
    inputs = [v.name for v in graph.input if v.name not in weights]
    for value in graph.input:
        if value.name not in weights and value.type.tensor_type.elem_type not in FLOAT_TYPES:
            kind = value.type.WhichOneof("value")
            elem = require("onnx").TensorProto.DataType.Name(value.type.tensor_type.elem_type) \
                if kind == "tensor_type" else kind
            raise UnsupportedOnnxError(f"{where}: input {value.name!r} is {elem}; scratchnet runs float32/float64 "
                                       "tensors")
    if len(graph.output) != 1:
        raise UnsupportedOnnxError(f"{where} has {len(graph.output)} outputs; scratchnet imports one-output graphs")
    constants: dict[str, np.ndarray] = {}
    ranks = _ranks(proto)
    opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    consumed = {name for node in graph.node for name in node.input} | {graph.output[0].name}
    steps: list[tuple[str, Step]] = []
    taken: set[str] = set()
    for index, proto_node in enumerate(graph.node):
        node = NodeView(proto_node, index, weights, constants, ranks, opset)
        if node.op == "Constant":
            constants[proto_node.output[0]] = _constant_node(node)
            continue
        module = _import_node(node, consumed)
        data_inputs = tuple(name for name in proto_node.input if name and name not in weights and name not in constants)
        if not data_inputs:
            raise node.fail("inputs", "all are constants; fold the node away before exporting")
        steps.append((_step_name(node, taken), Step(module, data_inputs, proto_node.output[0], node.name)))
    try:
        return OnnxGraph(inputs, graph.output[0].name, steps)
    except ValueError as err:
        raise UnsupportedOnnxError(f"{where}: {err}") from None


def _import_node(node: NodeView, consumed: set[str]) -> nn.Module:
    importer = IMPORTERS.get(node.op)
    if importer is None:
        raise node.fail("operator", f"not supported; scratchnet imports {', '.join(supported_operators())}")
    if node.proto.domain not in ("", "ai.onnx"):
        raise node.fail(f"domain {node.proto.domain!r}", "only the default domain")
    module = importer(node)
    unread = node.unread_attributes()
    if unread:
        raise node.fail(f"attribute {unread[0]}", "not supported by scratchnet's importer of this operator")
    extra = [name for name in node.proto.output[1:] if name and name in consumed]
    if extra:
        raise node.fail(f"output {extra[0]!r}", "only the first output of a node can be used")
    return module


def _step_name(node: NodeView, taken: set[str]) -> str:
    """The weights' common prefix ("fc1" for fc1.weight and fc1.bias), else the node's name, made unique."""
    prefixes = {name.rpartition(".")[0] for name in node.weight_names}
    if len(prefixes) == 1 and "" not in prefixes:
        name = prefixes.pop()
    else:
        name = re.sub(r"[^0-9A-Za-z_]+", "_", node.name).strip("_") or node.op
    unique, i = name, 1
    while unique in taken:
        i += 1
        unique = f"{name}_{i}"
    taken.add(unique)
    return unique


def load(path: str | Path) -> OnnxGraph:
    """The ONNX model in ``path`` as a trainable ``OnnxGraph`` (training mode, float32)."""
    return from_proto(read_model(path), str(path))


def load_with_metadata(path: str | Path) -> tuple[OnnxGraph, dict]:
    """``load(path)`` and the model's metadata: the ``scratchnet_model`` entry of metadata_props
    (written by ``scratchnet export``) as a dict; a file without it raises ValueError."""
    proto = read_model(path)
    props = {p.key: p.value for p in proto.metadata_props}
    if "scratchnet_model" not in props:
        raise ValueError(f"{path} has no scratchnet metadata (classes, preprocessing, input shape), which evaluate and "
                         "predict need: they take ONNX files written by `scratchnet export`. To start a model from "
                         f"its weights use `scratchnet train --model NAME --init-from {path}`; "
                         "scratchnet.onnx.load(path) gives the graph itself")
    try:
        meta = json.loads(props["scratchnet_model"])
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: its scratchnet_model metadata is not JSON ({err})") from None
    return from_proto(proto, str(path)), meta
