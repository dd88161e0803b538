"""ONNX files written by torch.onnx.export (no scratchnet metadata) in `evaluate`, `predict` and
`train --init-from`: classes from --dataset, preprocessing from --normalize, and a folded export refused
with the export call that keeps the layers."""
import io
import json
import warnings

import numpy as np
import pytest
from conftest import dataset_dir
from test_zoo import torch_equivalent

from scratchnet import cli, data, zoo
from scratchnet.data.idx import write_idx
from scratchnet.train import evaluate, pretrained
from scratchnet.train.evaluation import pick_test_images
from scratchnet.data import Preprocess
from scratchnet.train.modelfile import save_model

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

FASHION = list(data.registry.info("fashion-mnist").classes)


def torch_cnn():
    """cnn3-128-0.1's layers built in torch.nn, in eval mode, with BatchNorm statistics that are not the defaults."""
    torch.manual_seed(0)
    net = torch_equivalent(zoo.spec("cnn3-128-0.1", (1, 28, 28), num_classes=10))
    with torch.no_grad():
        for layer in (net[1], net[5]):
            layer.running_mean.uniform_(-0.5, 0.5)
            layer.running_var.uniform_(0.5, 2)
            layer.weight.uniform_(0.5, 1.5)
    return net.eval()


def export(net, path, **options):
    """torch.onnx.export as a user calls it: (model, x, path), TorchScript exporter."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter is "legacy" in torch 2.9+
        torch.onnx.export(net, (torch.zeros(1, 1, 28, 28),), str(path), dynamo=False, **options)
    return path


def torch_probabilities(net, images, normalize=lambda x: x / 255):
    with torch.no_grad():
        x = normalize(torch.from_numpy(images.astype(np.float32)))
        return torch.softmax(net(x), dim=1).numpy()


def test_predict_takes_a_torch_exported_file_with_classes_from_dataset(tmp_path, capsys):
    net = torch_cnn()
    path = export(net, tmp_path / "torch.onnx")  # torch's default: BatchNorm folded into the convolutions
    images = np.random.default_rng(0).integers(0, 256, size=(3, 1, 28, 28), dtype=np.uint8)
    idx = write_idx(tmp_path / "images-idx3-ubyte", images[:, 0])
    assert cli.main(["predict", str(path), str(idx)]) == 2
    err = capsys.readouterr().err
    assert "has no scratchnet metadata" in err and "give --dataset NAME" in err
    assert cli.main(["predict", str(path), str(idx), "--json", "--top-k", "10", "--dataset", "fashion-mnist"]) == 0
    captured = capsys.readouterr()
    assert "preprocessing assumed --normalize scale: pixels / 255 (as torchvision's ToTensor()) (the default)" in \
        captured.err
    expected = torch_probabilities(net, images)
    for row, answer in zip(expected, map(json.loads, captured.out.splitlines())):
        assert answer["prediction"] == FASHION[row.argmax()]
        np.testing.assert_allclose([answer["probabilities"][name] for name in FASHION], row, rtol=1e-4, atol=1e-6)


def test_a_scratchnet_model_refuses_the_foreign_file_flags(tmp_path, capsys):
    _, model = zoo.build("mlp2")
    save_model(tmp_path / "model.npz", model, None, Preprocess("scale"), FASHION, (1, 28, 28), "fashion-mnist")
    idx = write_idx(tmp_path / "images-idx3-ubyte", np.zeros((1, 28, 28), dtype=np.uint8))
    assert cli.main(["predict", str(tmp_path / "model.npz"), str(idx), "--dataset", "mnist"]) == 2
    assert "--dataset is for ONNX files without scratchnet metadata" in capsys.readouterr().err
    assert cli.main(["predict", str(tmp_path / "model.npz"), str(idx), "--normalize", "none"]) == 2
    assert "--normalize is for ONNX files without scratchnet metadata" in capsys.readouterr().err


def test_evaluate_scores_a_torch_exported_file_as_torch_does(tmp_path, capsys):
    root = dataset_dir("fashion-mnist")
    net = torch_cnn()
    path = export(net, tmp_path / "torch.onnx")
    result = evaluate(path, dataset="fashion-mnist", root=str(root), test_subset=60, progress=False, normalize="zscore")
    assert result.model.classes == FASHION and result.model.input_shape == (1, 28, 28)
    mean, std = result.model.preprocess.mean[0], result.model.preprocess.std[0]
    assert 0.28 < mean < 0.29 and 0.35 < std < 0.36  # Fashion-MNIST's training set: 0.2860, 0.3530
    ds = data.load("fashion-mnist", root=str(root), progress=False)
    index = pick_test_images(ds.y_test, 60, seed=0)
    expected = torch_probabilities(net, ds.x_test[index], lambda x: (x / 255 - mean) / std)
    np.testing.assert_allclose(result.scores.probabilities, expected, rtol=1e-4, atol=1e-6)
    assert cli.main(["evaluate", str(path), "--dataset", "fashion-mnist", "--root", str(root), "--test-subset", "60",
                     "--normalize", "zscore"]) == 0
    out = capsys.readouterr().out
    assert "preprocessing assumed --normalize zscore: (pixels / 255 - mean) / std with fashion-mnist's " \
           "training-set mean (0.2860) and std (0.3530)" in out
    assert "test set (60 images)" in out
    assert cli.main(["evaluate", str(path)]) == 2
    assert "give --dataset NAME" in capsys.readouterr().err


def test_init_from_a_folded_torch_export_says_how_to_export_one_that_loads(tmp_path):
    net = torch_cnn()
    folded = export(net, tmp_path / "folded.onnx")
    _, model = zoo.build("cnn3-128-0.1")
    with pytest.raises(pretrained.WeightsMismatchError) as err:
        pretrained.init_from(model, folded)
    message = str(err.value)
    assert "exporter-made names (onnx::Conv_" in message and "merges each BatchNorm into the convolution" in message
    assert "training=torch.onnx.TrainingMode.PRESERVE" in message and "add --new-head" not in message
    # what the message advises loads every weight, BatchNorm's statistics included; so does no constant folding
    for options in ({"training": torch.onnx.TrainingMode.PRESERVE}, {"do_constant_folding": False}):
        _, model = zoo.build("cnn3-128-0.1")
        summary = pretrained.init_from(model, export(net, tmp_path / "kept.onnx", **options))
        assert summary.startswith("initialised 16 of 18 tensors"), options
        for key, value in net.state_dict().items():
            np.testing.assert_array_equal(model.state_dict()[key], value.numpy(), err_msg=f"{options}: {key}")


def test_init_from_resolves_the_identity_aliases_of_an_unfolded_export(tmp_path):
    """Without constant folding torch stores equal tensors once: a fresh BatchNorm's running_var is
    Identity(weight) (all ones) and running_mean Identity(bias) (all zeros)."""
    torch.manual_seed(0)
    net = torch_equivalent(zoo.spec("cnn3-128-0.1", (1, 28, 28), num_classes=10)).eval()
    path = export(net, tmp_path / "fresh.onnx", do_constant_folding=False)
    _, model = zoo.build("cnn3-128-0.1")
    assert pretrained.init_from(model, path).startswith("initialised 16 of 18 tensors")
    np.testing.assert_array_equal(model.state_dict()["1.running_var"], np.ones(32, np.float32))
    np.testing.assert_array_equal(model.state_dict()["5.running_mean"], np.zeros(64, np.float32))
