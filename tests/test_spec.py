import json

import numpy as np
import pytest

from scratchnet import manual_seed, nn
from scratchnet.train import LAYER_TYPES, build_model, load_spec

TINY = {"layers": [
    {"type": "Conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": 3},
    {"type": "ReLU"},
    {"type": "Flatten"},
    {"type": "Linear", "in_features": 2 * 6 * 6, "out_features": 4,
     "init": {"weight": {"fn": "kaiming_normal_", "nonlinearity": "linear"}, "bias": {"fn": "zeros_"}}},
]}

TINY_TOML = """
[[layers]]
type = "Conv2d"
in_channels = 1
out_channels = 2
kernel_size = 3

[[layers]]
type = "ReLU"

[[layers]]
type = "Flatten"

[[layers]]
type = "Linear"
in_features = 72
out_features = 4
init = { weight = { fn = "kaiming_normal_", nonlinearity = "linear" }, bias = { fn = "zeros_" } }
"""


def test_spec_builds_a_sequential_with_torch_keys():
    model = build_model(TINY, input_shape=(1, 8, 8), num_classes=4)
    assert list(model.state_dict()) == ["0.weight", "0.bias", "3.weight", "3.bias"]
    assert model(np.zeros((5, 1, 8, 8), np.float32)).shape == (5, 4)
    assert not model[3].bias.data.any()  # the layer's init was applied


def test_json_and_toml_files_give_the_same_model(tmp_path):
    (tmp_path / "m.json").write_text(json.dumps(TINY))
    (tmp_path / "m.toml").write_text(TINY_TOML)
    from_json, from_toml = load_spec(tmp_path / "m.json"), load_spec(tmp_path / "m.toml")
    assert from_json == from_toml == TINY
    manual_seed(0)
    a = build_model(from_json).state_dict()
    manual_seed(0)
    b = build_model(from_toml).state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_unknown_layer_type_lists_the_allowed_ones():
    with pytest.raises(ValueError, match="unknown type 'Conv3d'.*Linear.*Conv2d") as err:
        build_model({"layers": [{"type": "Conv3d"}]})
    assert all(name in str(err.value) for name in LAYER_TYPES)


def test_unknown_argument_lists_the_accepted_ones():
    with pytest.raises(ValueError, match=r"layer 0 \(Linear\) does not take units; it takes in_features, out_feat"):
        build_model({"layers": [{"type": "Linear", "units": 3}]})


def test_missing_argument_names_the_layer():
    with pytest.raises(ValueError, match=r"layer 1 \(Linear\): .*out_features"):
        build_model({"layers": [{"type": "Flatten"}, {"type": "Linear", "in_features": 3}]})


def test_bad_init_is_explained():
    layer = {"type": "Linear", "in_features": 3, "out_features": 2}
    with pytest.raises(ValueError, match="from .*xavier_uniform_"):
        build_model({"layers": [{**layer, "init": {"weight": {"fn": "magic"}}}]})
    with pytest.raises(ValueError, match="has no parameter 'gamma'"):
        build_model({"layers": [{**layer, "init": {"gamma": {"fn": "zeros_"}}}]})


def test_layers_that_do_not_fit_the_input_are_caught_when_built():
    wrong = {"layers": [{"type": "Flatten"}, {"type": "Linear", "in_features": 100, "out_features": 10}]}
    with pytest.raises(ValueError, match=r"do not fit input of shape \(1, 28, 28\)"):
        build_model(wrong, input_shape=(1, 28, 28))
    right_size = {"layers": [{"type": "Flatten"}, {"type": "Linear", "in_features": 784, "out_features": 5}]}
    with pytest.raises(ValueError, match="has 10 classes; the last layer must output 10 values"):
        build_model(right_size, input_shape=(1, 28, 28), num_classes=10)


@pytest.mark.parametrize("spec", [[], {"layers": []}, {"layers": [["Linear"]]}, {"model": []}])
def test_malformed_spec_shows_the_expected_form(spec):
    with pytest.raises(ValueError, match="layer"):
        build_model(spec)


def test_bad_model_files(tmp_path):
    with pytest.raises(ValueError, match="must end in .json or .toml"):
        load_spec(tmp_path / "model.yaml")
    with pytest.raises(ValueError, match="does not exist"):
        load_spec(tmp_path / "missing.json")
    (tmp_path / "broken.toml").write_text("[[layers]\ntype=")
    with pytest.raises(ValueError, match="broken.toml is not valid TOML"):
        load_spec(tmp_path / "broken.toml")
    (tmp_path / "typo.json").write_text(json.dumps({"layers": [{"type": "Relu"}]}))
    with pytest.raises(ValueError, match="typo.json: layer 0 has unknown type 'Relu'"):
        load_spec(tmp_path / "typo.json")


def test_every_layer_the_engine_exports_is_a_spec_type(monkeypatch):
    class Double(nn.Module):
        """A layer as the layers engineer would add one: exported by scratchnet.nn."""

        def forward(self, x):
            return 2 * x

        def backward(self, grad_output):
            return 2 * grad_output

    monkeypatch.setattr(nn, "Double", Double, raising=False)
    model = build_model({"layers": [{"type": "Flatten"}, {"type": "Double"}]})
    assert isinstance(model[1], Double)
    np.testing.assert_array_equal(model(np.ones((2, 1, 2, 2), np.float32)), 2 * np.ones((2, 4)))
    assert {"Conv2d", "BatchNorm2d", "Linear", "ReLU"} <= set(LAYER_TYPES)
    assert "CrossEntropyLoss" not in LAYER_TYPES and "Module" not in LAYER_TYPES  # losses are not layers
