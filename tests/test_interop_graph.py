"""The imported graph's own modules and container: backward against finite differences (float64) and
against PyTorch; gradients of a value read by several nodes add up."""
import numpy as np
import pytest
from gradcheck import check_module_grads, numeric_grad

from scratchnet import nn
from scratchnet.interop.graph_ops import Elementwise, Erf, Identity, Pad, Reshape, Slice, reduce_to_shape
from scratchnet.interop.onnx_graph import OnnxGraph, Step

rng = np.random.default_rng(0)


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
@pytest.mark.parametrize("shape_b", [(2, 3, 4), (3, 1), (4,)])
def test_elementwise_of_two_inputs_matches_finite_differences(op, shape_b):
    a = rng.normal(size=(2, 3, 4))
    b = rng.uniform(0.5, 2.0, size=shape_b)  # away from 0 for Div
    module = Elementwise(op).train()
    r = rng.normal(size=np.broadcast_shapes(a.shape, b.shape))
    module(a, b)
    grad_a, grad_b = module.backward(r)

    def loss():
        return float(np.sum(module(a, b) * r))

    np.testing.assert_allclose(grad_a, numeric_grad(loss, a), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad_b, numeric_grad(loss, b), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
@pytest.mark.parametrize("position", [0, 1])
def test_elementwise_with_a_trainable_operand_matches_finite_differences(op, position):
    module = Elementwise(op, rng.uniform(0.5, 2.0, size=(3, 1)), position=position, trainable=True)
    check_module_grads(module, rng.uniform(0.5, 2.0, size=(2, 3, 4)))


def test_elementwise_with_a_constant_operand_has_no_parameter():
    module = Elementwise("Mul", np.array(0.5, np.float32), trainable=False)
    assert list(module.parameters()) == []
    check_module_grads(module, rng.normal(size=(2, 3)))


@pytest.mark.parametrize("module, shape", [
    (Erf(), (3, 5)),
    (Reshape((0, -1)), (2, 3, 4)),
    (Reshape((4, 0, 2)), (2, 3, 4)),
    (Identity(), (2, 3)),
    (Slice([0, 1], [2 ** 62, -1], [2, -1], [2, 2]), (2, 3, 5, 6)),
    (Slice([-1], [-2 ** 62], [1], [-2]), (2, 5)),
    (Pad([0, 1, 0, 0, 0, 2, 1, 0], 0.5), (2, 3, 2, 2)),
    (Pad([0, 0, 2, 1, 0, 0, 1, 2], mode="reflect"), (2, 2, 3, 4)),
    (Pad([0, 1, 3, 0, 0, 0, 1, 2], mode="edge"), (2, 2, 3, 4)),   # wider than the image: edge is fine
    (Pad([0, 0, 3, 1, 0, 0, 1, 4], mode="wrap"), (2, 2, 3, 4)),   # as wide as the image
])
def test_graph_ops_match_finite_differences(module, shape):
    check_module_grads(module, rng.normal(size=shape))


def test_graph_ops_match_torch():
    torch = pytest.importorskip("torch")
    x = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    np.testing.assert_allclose(Erf()(x), torch.erf(torch.from_numpy(x)).numpy(), rtol=1e-6, atol=1e-6)
    padded = torch.nn.functional.pad(torch.from_numpy(x), (0, 0, 1, 0, 2, 1), value=0.5).numpy()  # last axis first
    np.testing.assert_array_equal(Pad([0, 2, 1, 0, 0, 1, 0, 0], 0.5)(x), padded)


def test_a_pad_wider_than_its_axis_is_refused_before_allocating():
    with pytest.raises(ValueError, match="a pad is wider than its axis"):
        Pad([0, 0, 0, 10 ** 9])(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="a pad is wider than its axis"):
        Pad([0, 3, 0, 0], mode="reflect")(np.zeros((2, 3)))  # reflecting 3 columns needs 4


@pytest.mark.parametrize("mode", ["reflect", "edge", "wrap"])
def test_pad_modes_match_onnxruntime(mode):
    onnx, ort = pytest.importorskip("onnx"), pytest.importorskip("onnxruntime")
    from scratchnet.interop import onnx_import
    pads = onnx.numpy_helper.from_array(np.array([0, 0, 2, 1, 0, 0, 1, 3], np.int64), "pads")
    node = onnx.helper.make_node("Pad", ["x", "pads"], ["y"], mode=mode)
    graph = onnx.helper.make_graph([node], "g", [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT,
                                                                                    [2, 3, 4, 5])],
                                   [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)], [pads])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 21)])
    x = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    expected = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    np.testing.assert_array_equal(onnx_import.from_proto(model).eval()(x), expected)


def test_reduce_to_shape_sums_broadcast_axes():
    np.testing.assert_array_equal(reduce_to_shape(np.ones((2, 3, 4)), (3, 1)), np.full((3, 1), 8.0))
    np.testing.assert_array_equal(reduce_to_shape(np.ones((2, 3)), ()), np.array(6.0))


def residual_graph():
    """y = relu(fc2(relu(fc1(x))) + fc1(x)) ... with fc1's output read by two nodes."""
    fc1, fc2 = nn.Linear(4, 4), nn.Linear(4, 4)
    steps = [("fc1", Step(fc1, ("x",), "h", "fc1")), ("relu1", Step(nn.Tanh(), ("h",), "a", "relu1")),
             ("fc2", Step(fc2, ("a",), "b", "fc2")), ("add", Step(Elementwise("Add"), ("b", "h"), "s", "add")),
             ("out", Step(nn.Tanh(), ("s",), "y", "out"))]
    return OnnxGraph(["x"], "y", steps)


def test_graph_backward_sums_gradients_where_a_value_feeds_several_nodes():
    check_module_grads(residual_graph(), rng.normal(size=(3, 4)))


def test_graph_with_two_inputs_returns_a_gradient_per_input():
    graph = OnnxGraph(["a", "b"], "y", [("mul", Step(Elementwise("Mul"), ("a", "b"), "y", "mul"))]).train()
    a, b = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    graph(a, b)
    grad_a, grad_b = graph.backward(np.ones((2, 3)))
    np.testing.assert_array_equal(grad_a, b)
    np.testing.assert_array_equal(grad_b, a)
    assert graph.backward(np.ones((2, 3)), input_grad=False) is None


def test_graph_refuses_a_value_read_before_it_is_computed():
    with pytest.raises(ValueError, match="node 'late' reads h before any step computes it"):
        OnnxGraph(["x"], "y", [("late", Step(nn.ReLU(), ("h",), "y", "late"))])
