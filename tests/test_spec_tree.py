"""Spec trees: containers with named children, branch blocks, user-written classes, model files."""
import json
from collections import OrderedDict

import numpy as np
import pytest

import scratchnet
from scratchnet import nn
from scratchnet.data import Preprocess
from scratchnet.spec import build_model, is_flat, load_spec, output_layer_type, spec_of
from scratchnet.train import load_model, save_model

TREE = {"type": "Sequential", "children": {
    "stem": {"type": "Conv2d", "in_channels": 1, "out_channels": 4, "kernel_size": 3, "padding": 1, "bias": False},
    "layer1": {"type": "Sequential", "layers": [
        {"type": "BasicBlock", "inplanes": 4, "planes": 8, "stride": 2, "shortcut": "B"},
        {"type": "Residual", "block": {"type": "Sequential", "layers": [
            {"type": "Conv2d", "in_channels": 8, "out_channels": 8, "kernel_size": 3, "padding": 1},
            {"type": "ReLU"}]}}]},
    "flatten": {"type": "Flatten"},
    "heads": {"type": "ModuleDict", "children": {"fc": {"type": "Linear", "in_features": 8 * 4 * 4,
                                                        "out_features": 3}}},
}}


class TinyNet(nn.Module):
    """A user-written model: saved as its class path and arguments, never as code."""

    def __init__(self, width: int, classes: int = 3):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, width, 3), nn.ReLU(), nn.Flatten())
        self.fc = nn.Linear(width * 6 * 6, classes)

    def forward(self, x):
        return self.fc(self.features(x))

    def backward(self, grad_output):
        return self.features.backward(self.fc.backward(grad_output))


def test_a_tree_builds_with_torch_style_keys():
    model = build_model(TREE)
    keys = list(model.state_dict())
    assert keys[:3] == ["stem.weight", "layer1.0.conv1.weight", "layer1.0.bn1.weight"]
    assert "layer1.0.downsample.0.weight" in keys and "layer1.1.block.0.bias" in keys and keys[-1] == "heads.fc.bias"
    assert model.layer1[0].downsample[1].num_features == 8


def test_spec_of_writes_the_spec_a_model_was_built_from():
    scratchnet.manual_seed(0)
    model = build_model(TREE)
    written = spec_of(model)
    assert build_model(json.loads(json.dumps(written))).state_dict().keys() == model.state_dict().keys()
    python_built = nn.Sequential(OrderedDict([("conv", nn.Conv2d(1, 2, (3, 3))), ("act", nn.ReLU())]))
    assert spec_of(python_built) == {"type": "Sequential", "children": {
        "conv": {"type": "Conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": [3, 3]},
        "act": {"type": "ReLU"}}}
    assert spec_of(nn.Residual(nn.Linear(2, 2), shortcut=None)) == {
        "type": "Residual", "block": {"type": "Linear", "in_features": 2, "out_features": 2}}
    assert spec_of(nn.Sequential(nn.Linear(2, 2)).append(nn.Tanh())) == {
        "type": "Sequential", "layers": [{"type": "Linear", "in_features": 2, "out_features": 2}, {"type": "Tanh"}]}


def test_spec_of_refuses_a_model_edited_after_construction():
    block = nn.BasicBlock(4, 8, stride=2)
    block.downsample = nn.Sequential(nn.Conv2d(4, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(8))
    with pytest.raises(ValueError, match="BasicBlock cannot be described by a spec.*other shapes "
                                         r"\['downsample.0.weight'\].*replaced after construction"):
        spec_of(block)


def test_old_flat_specs_still_load_and_stay_version_1(tmp_path):
    old = {"layers": [{"type": "Flatten"}, {"type": "Linear", "in_features": 4, "out_features": 2}]}
    (tmp_path / "old.json").write_text(json.dumps(old))
    model = build_model(load_spec(tmp_path / "old.json"))
    assert list(model.state_dict()) == ["1.weight", "1.bias"] and is_flat(old) and not is_flat(TREE)
    assert output_layer_type(old) == "Linear" and output_layer_type(TREE) == "ModuleDict"


def _save(path, model, spec=None):
    save_model(path, model, spec, Preprocess("scale"), ["a", "b", "c"], (1, 8, 8), "tiny")


def test_model_files_keep_trees_without_pickle(tmp_path):
    spec = {"type": "Sequential", "children": {
        "body": TREE["children"]["layer1"], "pool": {"type": "AvgPool2d", "kernel_size": 4},
        "flatten": {"type": "Flatten"}, "fc": {"type": "Linear", "in_features": 8, "out_features": 3}}}
    spec["children"] = {"stem": TREE["children"]["stem"], **spec["children"]}
    scratchnet.manual_seed(0)
    model = build_model(spec, input_shape=(1, 8, 8), num_classes=3)
    model(np.random.default_rng(0).normal(size=(4, 1, 8, 8)).astype(np.float32))  # running statistics move
    _save(tmp_path / "m.npz", model)
    meta = json.loads(bytes(np.load(tmp_path / "m.npz", allow_pickle=False)["scratchnet_model"]).decode())
    assert meta["format_version"] == 2 and meta["spec"] == spec_of(model)
    loaded = load_model(tmp_path / "m.npz")
    images = np.random.default_rng(1).integers(0, 256, (5, 1, 8, 8), dtype=np.uint8)
    x = Preprocess("scale")(images)
    np.testing.assert_allclose(loaded.model(x), model.eval()(x), rtol=1e-6)
    assert loaded.predict_proba(images).shape == (5, 3)


def test_a_user_written_class_is_saved_by_path_and_loaded_only_when_passed(tmp_path):
    model = TinyNet(2)
    _save(tmp_path / "user.npz", model)
    meta = json.loads(bytes(np.load(tmp_path / "user.npz")["scratchnet_model"]).decode())
    assert meta["spec"] == {"class": f"{__name__}:TinyNet", "args": {"width": 2}}
    with pytest.raises(ValueError, match=r"user-written module .*:TinyNet.*never its code.*classes=\[TinyNet\]"):
        load_model(tmp_path / "user.npz")
    loaded = load_model(tmp_path / "user.npz", classes=[TinyNet])
    x = np.random.default_rng(2).normal(size=(2, 1, 8, 8)).astype(np.float32)
    assert isinstance(loaded.model, TinyNet)
    np.testing.assert_array_equal(loaded.model(x), model.eval()(x))


@pytest.mark.parametrize("spec, message", [
    ({"type": "Sequential"}, r"the model \(Sequential\) needs \"layers\""),
    ({"type": "ModuleDict", "layers": []}, r"needs \"children\""),
    ({"type": "Sequential", "children": {"a": {"type": "Relu"}}}, "layer a has unknown type 'Relu'"),
    ({"type": "Sequential", "children": {"b": {"type": "Sequential", "layers": [{"type": "Linear", "units": 2}]}}},
     r"layer b\.0 \(Linear\) does not take units"),
    ({"class": "nodots"}, r'must be \{"class": "package.module:ClassName"'),
])
def test_malformed_trees_are_explained(spec, message):
    with pytest.raises(ValueError, match=message):
        build_model(spec)
