"""ONNX export and import: every zoo model against onnxruntime, export→import round trips (outputs and
gradients), a torch.nn model exported by torch.onnx.export, and the errors of what is not supported."""
import io
import warnings
from collections import OrderedDict

import numpy as np
import pytest

import scratchnet
import scratchnet.onnx
from scratchnet import nn, zoo
from scratchnet.interop import MissingExtraError, onnx_export, onnx_import
from scratchnet.interop.onnx_import import UnsupportedOnnxError

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed (pip install 'scratchnet[onnx]')")
ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed (pip install 'scratchnet[onnx]')")
helper = onnx.helper


# Their training step adds nothing to the others': resnet32/56 are resnet20 with more of its blocks, resnet18's
# blocks are resnet9-small's (shortcut B) at four times the width.
SAME_BLOCKS = {"resnet32", "resnet56", "resnet18"}


def zoo_shape(name):
    # dense10k's 10,000-unit layer on 28x28 inputs holds 17 million weights: 8x8 inputs keep the test quick.
    if name.startswith("resnet"):
        return (3, 16, 16)  # the same arithmetic as on 32x32 at a quarter of the cost (as test_resnets.py)
    return (3, 32, 32) if "cifar" in name else (1, 8, 8) if name == "dense10k" else (1, 28, 28)


def with_random_statistics(model):
    """Running statistics away from (0, 1), so a mistake in exporting them shows."""
    rng = np.random.default_rng(3)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean[...] = rng.normal(size=module.num_features)
            module.running_var[...] = rng.uniform(0.5, 2.0, size=module.num_features)
            module.weight.data[...] = rng.uniform(0.5, 1.5, size=module.num_features)
    return model


@pytest.mark.parametrize("name", zoo.names())
def test_zoo_model_matches_onnxruntime_and_round_trips(name):
    shape = zoo_shape(name)
    scratchnet.manual_seed(0)
    model = with_random_statistics(zoo.build(name, shape)[1])
    proto = onnx_export.export(model, shape)
    x = np.random.default_rng(1).normal(size=(2, *shape)).astype(np.float32)
    model.eval()
    expected = model(x)
    # onnxruntime on the exported file
    got = ort.InferenceSession(proto.SerializeToString()).run(None, {"input": x})[0]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    # imported back: same keys, outputs, and (in train mode, same dropout draws) gradients
    graph = onnx_import.from_proto(proto)
    assert list(graph.state_dict()) == list(model.state_dict())
    graph.eval()
    np.testing.assert_array_equal(graph(x), expected)
    if name not in SAME_BLOCKS:
        assert_same_training_step(model, graph, x)


def assert_same_training_step(model, graph, x, rtol=1e-6, atol=1e-7):
    """In train mode, with the same dropout draws: the same outputs, input gradient and parameter gradients."""
    model.train(), graph.train()
    scratchnet.manual_seed(7)
    y_model = model(x)
    scratchnet.manual_seed(7)
    np.testing.assert_allclose(graph(x), y_model, rtol=rtol, atol=atol)
    r = np.random.default_rng(2).normal(size=y_model.shape).astype(np.float32)
    np.testing.assert_allclose(graph.backward(r), model.backward(r), rtol=rtol, atol=atol)
    own = dict(model.named_parameters())
    for key, param in graph.named_parameters():
        np.testing.assert_allclose(param.grad, own[key].grad, rtol=rtol, atol=atol, err_msg=key)


def every_layer_model():
    """A model using every layer class of the engine (outside the zoo's), in float32."""
    scratchnet.manual_seed(0)
    model = with_random_statistics(nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.LeakyReLU(0.2),
        nn.Conv2d(8, 8, 3, padding="same", dilation=2, groups=4), nn.GroupNorm(2, 8), nn.SiLU(),
        nn.Conv2d(8, 8, 4, padding="same"), nn.PReLU(8), nn.GroupNorm(4, 8, affine=False),
        nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False), nn.ELU(0.5), nn.MaxPool2d(3, 1, 1),
        nn.Mish(), nn.MaxPool2d(2, 1, dilation=2, ceil_mode=True), nn.ZeroPad2d((1, 0, 2, 1)),
        nn.ConvTranspose2d(8, 8, 3, stride=2, padding=1, output_padding=1, groups=2), nn.AvgPool2d(3, 2, 1, ceil_mode=True),
        nn.Upsample(scale_factor=2), nn.Upsample(size=(8, 8)),
        nn.Upsample(scale_factor=1.5, mode="bilinear"), nn.Upsample(size=(8, 8), mode="bilinear", align_corners=True),
        nn.AdaptiveMaxPool2d(4), nn.Tanh(), nn.LayerNorm((4, 4)), nn.Hardswish(),
        nn.AdaptiveAvgPool2d((2, 1)), nn.Flatten(), nn.Unflatten(1, (4, 2, 2)), nn.Flatten(), nn.Linear(16, 12), nn.BatchNorm1d(12), nn.GELU(),
        nn.Dropout(0.3), nn.Linear(12, 12), nn.GELU("tanh"), nn.LayerNorm(12, bias=False), nn.ReLU6(),
        nn.Linear(12, 12), nn.Softplus(), nn.Linear(12, 12), nn.Softplus(beta=2), nn.PReLU(),
        nn.LayerNorm(12, elementwise_affine=False), nn.Sigmoid(), nn.Linear(12, 6), nn.ReLU(), nn.LogSoftmax(dim=1)))
    rng = np.random.default_rng(5)
    for name, param in model.named_parameters():  # norms and slopes away from their initial ones and zeros
        if "Norm" in type(dict(model.named_modules())[name.rpartition(".")[0]]).__name__ or name.endswith("weight") \
                and param.data.ndim == 1:
            param.data[...] = rng.uniform(0.5, 1.5, size=param.shape)
    return model


def exported_and_imported(model, shape=(3, 16, 16)):
    """(the imported graph, a batch x) after checking that onnxruntime and the graph give the model's outputs."""
    proto = onnx_export.export(model, shape)
    x = np.random.default_rng(1).normal(size=(4, *shape)).astype(np.float32)
    expected = model.eval()(x)
    got = ort.InferenceSession(proto.SerializeToString()).run(None, {"input": x})[0]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    graph = onnx_import.from_proto(proto)
    np.testing.assert_allclose(graph.eval()(x), expected, rtol=1e-6, atol=1e-7)
    return graph, x


def test_a_model_of_every_layer_matches_onnxruntime_and_round_trips():
    model = every_layer_model()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm1d):
            module.running_var[...] = np.random.default_rng(4).uniform(0.5, 2, size=module.num_features)
    graph, x = exported_and_imported(model)
    assert_same_training_step(model, graph, x, rtol=1e-4, atol=1e-5)  # SiLU runs as Sigmoid and Mul there


def test_a_residual_net_of_containers_and_blocks_round_trips_with_gradients():
    """BasicBlocks with both shortcuts, a Residual, Identity and an OrderedDict Sequential: the same outputs in
    onnxruntime, and imported back the same keys, outputs and gradients (values feeding two nodes included)."""
    scratchnet.manual_seed(0)
    model = with_random_statistics(nn.Sequential(OrderedDict([
        ("stem", nn.Conv2d(3, 8, 3, padding=1)), ("block1", nn.BasicBlock(8, 8)),
        ("block2", nn.BasicBlock(8, 16, stride=2, shortcut="A")), ("block3", nn.BasicBlock(16, 32, 2, shortcut="B")),
        ("res", nn.Residual(nn.Sequential(nn.Conv2d(32, 32, 1), nn.ReLU()))), ("pool", nn.AdaptiveAvgPool2d(1)),
        ("flatten", nn.Flatten()), ("same", nn.Identity()), ("fc", nn.Linear(32, 5))])))
    graph, x = exported_and_imported(model)
    assert list(graph.state_dict()) == list(model.state_dict())
    assert_same_training_step(model, graph, x)


def test_channel_dropout_exports_as_the_identity():
    """ONNX has no channel dropout: Dropout2d leaves no node (it is the identity at inference)."""
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Dropout2d(0.5), nn.Flatten())
    proto = onnx_export.export(model, (1, 5, 5))
    assert [n.op_type for n in proto.graph.node] == ["Conv", "Flatten"]
    x = np.random.default_rng(0).normal(size=(2, 1, 5, 5)).astype(np.float32)
    np.testing.assert_array_equal(onnx_import.from_proto(proto).eval()(x), model.eval()(x))


def test_every_layer_class_of_the_engine_has_an_exporter():
    """Adding a layer to scratchnet.nn without an ONNX exporter fails here (losses and Module excepted)."""
    holders = {"ModuleList", "ModuleDict"}  # hold modules for a parent's forward; they have none of their own
    classes = {obj for name, obj in vars(nn).items() if isinstance(obj, type) and issubclass(obj, nn.Module)
               and obj is not nn.Module and not name.endswith("Loss") and name not in holders}
    missing = sorted(cls.__name__ for cls in classes if cls not in onnx_export.EXPORTERS)
    assert not missing, f"no ONNX exporter for {missing}: register one in scratchnet/interop/onnx_export.py"


def test_adaptive_pooling_with_overlapping_windows_is_refused():
    with pytest.raises(onnx_export.ExportError, match="pools 5x5 to 3x3: the windows overlap"):
        onnx_export.export(nn.Sequential(nn.AdaptiveAvgPool2d(3)), (1, 5, 5))


def test_exported_graph_is_checked_with_dynamic_batch_and_metadata(tmp_path):
    scratchnet.manual_seed(0)
    model = zoo.build("lenet5")[1]
    meta = {"classes": ["zero", "one"], "preprocess": {"kind": "scale", "mean": [], "std": []}}
    scratchnet.onnx.export(model, (1, 28, 28), tmp_path / "m.onnx", metadata=onnx_export.metadata_for(meta))
    proto = onnx.load(str(tmp_path / "m.onnx"))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version == onnx_export.OPSET >= 18
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["classes"] == '["zero", "one"]'
    assert props["preprocessing"] == "not folded in: feed pixels / 255 (float32 in [0, 1])"
    assert {t.name for t in proto.graph.initializer} == set(model.state_dict()) - {"num_batches_tracked"}
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"))
    for batch in (1, 7):  # the batch size is not fixed
        assert sess.run(None, {"input": np.zeros((batch, 1, 28, 28), np.float32)})[0].shape == (batch, 10)


def test_export_of_a_module_without_exporter_names_it():
    class Twice(nn.Module):
        def forward(self, x):
            return 2 * x

    with pytest.raises(onnx_export.ExportError, match=r"cannot export Twice at '1'.*@exports\(Twice\)"):
        onnx_export.export(nn.Sequential(nn.Linear(4, 4), Twice()), (4,))


def test_flatten_of_a_middle_range_exports_as_reshape():
    model = nn.Sequential(nn.Flatten(start_dim=2), nn.Flatten())
    proto = onnx_export.export(model, (2, 3, 4))
    assert [n.op_type for n in proto.graph.node if n.op_type != "Constant"] == ["Reshape", "Flatten"]
    x = np.random.default_rng(0).normal(size=(3, 2, 3, 4)).astype(np.float32)
    np.testing.assert_array_equal(onnx_import.from_proto(proto).eval()(x), model(x))


# -- a model trained in PyTorch ----------------------------------------------------------------------------------
def torch_net():
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.bn = torch.nn.BatchNorm2d(8)
            self.conv2 = torch.nn.Conv2d(8, 8, 3, padding=1)
            self.pool = torch.nn.MaxPool2d(2)
            self.avg = torch.nn.AvgPool2d(2)
            self.head = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(128, 16), torch.nn.GELU(),
                                            torch.nn.Linear(16, 5))

        def forward(self, x):
            h = torch.relu(self.bn(self.conv1(x)))
            h = h + torch.nn.functional.elu(self.conv2(h))  # h feeds conv2 and the sum: gradients add up
            return self.head(self.avg(self.pool(h)))

    torch.manual_seed(0)
    net = Net().eval()
    with torch.no_grad():
        net.bn.running_mean.uniform_(-1, 1)
        net.bn.running_var.uniform_(0.5, 2)
    return torch, net


def torch_onnx(torch, net, x, **options):
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter is "legacy" in torch 2.9+
        torch.onnx.export(net, (x,), buffer, dynamo=False, input_names=["x"], dynamic_axes={"x": {0: "batch"}},
                          **options)
    return onnx.load_from_string(buffer.getvalue())


def test_torch_exported_model_imports_and_matches_torch():
    torch, net = torch_net()
    x = torch.randn(4, 3, 16, 16)
    graph = onnx_import.from_proto(torch_onnx(torch, net, x)).eval()  # BatchNorm folded into conv1 by torch
    np.testing.assert_allclose(graph(x.numpy()), net(x).detach().numpy(), rtol=1e-4, atol=1e-5)


def test_torch_exported_model_trains_like_torch():
    """Without constant folding the file keeps torch's parameter names: the same gradients, key by key."""
    torch, net = torch_net()
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    graph = onnx_import.from_proto(torch_onnx(torch, net, x, do_constant_folding=False))
    assert set(graph.state_dict()) == set(net.state_dict())
    net.train(), graph.train()
    out = net(x)
    r = torch.randn(out.shape)
    (out * r).sum().backward()
    y = graph(x.detach().numpy())
    np.testing.assert_allclose(y, out.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(graph.backward(r.numpy()), x.grad.numpy(), rtol=1e-4, atol=1e-5)
    torch_params = dict(net.named_parameters())
    for key, param in graph.named_parameters():
        np.testing.assert_allclose(param.grad, torch_params[key].grad.numpy(), rtol=1e-4, atol=1e-4, err_msg=key)


# -- what is not supported fails, naming node, operator and attribute ----------------------------------------------
def one_node_model(op, inputs=("x",), initializers=(), opset=onnx_export.OPSET, **attrs):
    node = helper.make_node(op, list(inputs), ["y"], name="the_node", **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, 1, 6, 6])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
                              initializer=list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def weight(name, array):
    return onnx.numpy_helper.from_array(np.asarray(array, np.float32), name)


def test_unsupported_operator_names_node_and_operator():
    with pytest.raises(UnsupportedOnnxError, match=r"node 'the_node' \(operator Sin\): operator: not supported"):
        onnx_import.from_proto(one_node_model("Sin"))


@pytest.mark.parametrize("op, attrs, attribute", [
    ("MaxPool", {"kernel_shape": [2, 2], "storage_order": 1}, "storage_order=1"),
    ("AveragePool", {"kernel_shape": [2, 2], "dilations": [2, 2]}, r"dilations=\[2, 2\]"),
    ("MaxPool", {"kernel_shape": [3, 3], "pads": [1, 1, 0, 0]}, r"pads=\[1, 1, 0, 0\]"),
    ("AveragePool", {"kernel_shape": [2, 2], "auto_pad": "SAME_UPPER"}, "auto_pad='SAME_UPPER'"),
    ("Flatten", {"axis": 2}, "axis=2"),
    ("Relu", {"made_up": 1}, "attribute made_up"),
    ("Conv", {"pads": [9, 9, 9, 9]}, r"pads=\[9, 9, 9, 9\]: padding must be smaller than the \(dilated\) kernel"),
])
def test_unsupported_attribute_names_node_operator_and_attribute(op, attrs, attribute):
    inputs, initializers = ("x",), ()
    if op == "Conv":
        inputs, initializers = ("x", "W"), [weight("W", np.ones((1, 1, 3, 3)))]
    with pytest.raises(UnsupportedOnnxError, match=rf"node 'the_node' \(operator {op}\): .*{attribute}"):
        onnx_import.from_proto(one_node_model(op, inputs, initializers, **attrs))


def test_conv_weight_computed_at_run_time_is_refused():
    model = one_node_model("Conv", inputs=("x", "x"))
    with pytest.raises(UnsupportedOnnxError, match=r"\(operator Conv\): input 1 \(W\): must be a weight"):
        onnx_import.from_proto(model)


def test_old_opsets_and_other_domains_are_refused():
    with pytest.raises(UnsupportedOnnxError, match="opset 11"):
        onnx_import.from_proto(one_node_model("Relu", opset=11))
    model = one_node_model("Relu")
    model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    with pytest.raises(UnsupportedOnnxError, match="com.microsoft"):
        onnx_import.from_proto(model)


def test_a_tensor_declaring_more_values_than_it_holds_is_refused_before_allocation(tmp_path):
    tensor = weight("W", np.ones((1, 1, 2, 2)))
    tensor.dims[:] = [100000, 100000, 1000, 1000]  # 10^16 values declared, 4 held
    path = tmp_path / "huge.onnx"
    onnx.save(one_node_model("Conv", inputs=("x", "W"), initializers=[tensor]), str(path))
    with pytest.raises(ValueError, match=r"declares \[100000, 100000, 1000, 1000\].*holds 4; the file is corrupted"):
        scratchnet.onnx.load(path)


def test_external_data_is_refused(tmp_path):
    tensor = weight("W", np.ones((1, 1, 2, 2)))
    tensor.data_location = onnx.TensorProto.EXTERNAL
    tensor.raw_data = b""
    tensor.external_data.add(key="location", value="../../etc/passwd")
    path = tmp_path / "external.onnx"
    path.write_bytes(one_node_model("Conv", inputs=("x", "W"), initializers=[tensor]).SerializeToString())
    with pytest.raises(UnsupportedOnnxError, match="stored in an external file"):
        scratchnet.onnx.load(path)


def test_a_file_that_is_not_onnx_says_so(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x00\xff not a protobuf \xff" * 10)
    with pytest.raises(ValueError, match="is not an ONNX model file"):
        scratchnet.onnx.load(path)


def test_missing_onnx_package_says_what_to_install(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'scratchnet\[onnx\]'"):
        scratchnet.onnx.export(nn.Sequential(nn.Linear(2, 2)), (2,))


@pytest.mark.parametrize("sizes, refused", [((3, 1), True), ((12, 9), False)])
def test_bilinear_resize_with_pytorch_half_pixel_is_taken_only_where_it_is_torchs_rule(sizes, refused):
    sizes_tensor = onnx.numpy_helper.from_array(np.array(sizes, np.int64), "sizes")
    model = one_node_model("Resize", ("x", "", "", "sizes"), [sizes_tensor], mode="linear", axes=[2, 3],
                           coordinate_transformation_mode="pytorch_half_pixel")
    if refused:
        with pytest.raises(UnsupportedOnnxError, match="pytorch_half_pixel.*half_pixel coordinates"):
            onnx_import.from_proto(model)
        return
    layer = onnx_import.from_proto(model).eval()
    x = np.random.default_rng(0).normal(size=(2, 1, 6, 6)).astype(np.float32)
    expected = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    np.testing.assert_allclose(layer(x), expected, rtol=1e-5, atol=1e-6)


def test_conv_padding_modes_export_as_a_pad_before_the_conv_and_round_trip():
    scratchnet.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=(2, 1), padding_mode="reflect"), nn.ReLU(),
                          nn.Conv2d(8, 8, 3, padding=1, padding_mode="replicate", groups=8),
                          nn.Conv2d(8, 4, 3, padding="same", padding_mode="circular", bias=False),
                          nn.Conv2d(4, 4, 3, stride=2, padding_mode="reflect"),  # no padding: no Pad node
                          nn.Flatten())
    proto = onnx_export.export(model, (3, 9, 8))
    assert [(n.op_type, onnx.helper.get_attribute_value(n.attribute[0]) if n.op_type == "Pad" else None)
            for n in proto.graph.node if n.op_type in ("Pad", "Conv")] == [
        ("Pad", b"reflect"), ("Conv", None), ("Pad", b"edge"), ("Conv", None), ("Pad", b"wrap"), ("Conv", None),
        ("Conv", None)]
    graph, x = exported_and_imported(model, (3, 9, 8))
    assert_same_training_step(model, graph, x, rtol=1e-5, atol=1e-6)
