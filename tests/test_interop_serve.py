"""GET /structure: the served network's layers, shapes and parameter counts, for a model file and for an
exported ONNX file."""
import json
from types import SimpleNamespace

import pytest
from builders import DIGITS, request, serving, write_linear_model

import scratchnet
import scratchnet.cli
from scratchnet import zoo
from scratchnet.data import Preprocess
from scratchnet.train.modelfile import load_model, save_model


def structure(model):
    with serving(model) as server:
        status, _, body = request(server, "GET", "/structure")
    return status, json.loads(body)


def test_structure_lists_each_layer_with_its_output_shape_and_parameters(tmp_path):
    status, answer = structure(load_model(write_linear_model(tmp_path / "model.npz")))
    assert status == 200 and answer["total_parameters"] == 784 * 10 + 10
    assert [(row["layer"].split("(")[0], row["output_shape"], row["parameters"]) for row in answer["layers"][1:]] == \
        [("Flatten", [784], 0), ("Linear", [10], 7850)]
    assert answer["layers"][1]["depth"] > answer["layers"][0]["depth"]


def test_structure_of_an_exported_onnx_model(tmp_path, capsys):
    pytest.importorskip("onnx")
    scratchnet.manual_seed(0)
    spec, model = zoo.build("lenet5")
    save_model(tmp_path / "model.npz", model, spec, Preprocess("scale"), DIGITS, (1, 28, 28),
               "mnist")
    assert scratchnet.cli.main(["export", str(tmp_path)]) == 0
    status, answer = structure(load_model(tmp_path / "model.onnx"))
    assert status == 200 and answer["total_parameters"] == model.num_parameters()
    shapes = [row["output_shape"] for row in answer["layers"]]
    assert [6, 24, 24] in shapes and shapes[-1] == [10]


def test_a_model_without_layers_to_show_gets_404(tmp_path):
    loaded = load_model(write_linear_model(tmp_path / "model.npz"))
    opaque = SimpleNamespace(predict_proba=loaded.predict_proba, classes=loaded.classes, input_shape=(1, 28, 28),
                             dataset="mnist")
    status, answer = structure(opaque)
    assert status == 404 and "does not show its layers" in answer["error"]
