import functools

import numpy as np
import pytest
import torch

import scratchnet
from scratchnet import zoo
from conftest import run_python

SHAPES = [(1, 28, 28), (3, 32, 32)]
PARAMETRIC = ["cnn5-128-0.25", "mlp2-dropout-64-32"]
# Flat layer lists, compared with torch.nn.Sequential below; the ResNets (trees) are in test_resnets.py.
FLAT = [name for name in zoo.names() if not name.startswith("resnet")] + PARAMETRIC


@functools.lru_cache(maxsize=None)
def built(name: str, shape: tuple) -> tuple:
    """zoo.build once per (name, shape) for this module: dense10k alone has 23 million weights."""
    return zoo.build(name, shape, num_classes=10)


def torch_equivalent(spec: dict) -> torch.nn.Sequential:
    """The spec's layers built by torch.nn from the same constructor arguments."""
    layers = []
    for layer in spec["layers"]:
        args = {k: v for k, v in layer.items() if k not in ("type", "init")}
        layers.append(getattr(torch.nn, layer["type"])(**args))
    return torch.nn.Sequential(*layers)


@pytest.mark.parametrize("shape", SHAPES, ids=["mnist", "cifar"])
@pytest.mark.parametrize("name", zoo.names() + PARAMETRIC)
def test_every_model_classifies_both_image_shapes(name, shape):
    _, model = built(name, shape)
    out = model.eval()(np.random.default_rng(0).standard_normal((3, *shape)).astype(np.float32))
    assert out.shape == (3, 10) and out.dtype == np.float32


@pytest.mark.parametrize("name", FLAT)
def test_parameters_have_torch_sequential_keys_and_shapes(name):
    spec, model = built(name, (3, 32, 32))
    ours = {key: p.shape for key, p in model.named_parameters()}
    theirs = {key: tuple(p.shape) for key, p in torch_equivalent(spec).named_parameters()}
    assert ours == theirs


@pytest.mark.parametrize("name, shape, count", [
    ("cnet-mlp", (1, 28, 28), 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10),
    ("conv1", (1, 28, 28), (16 + 1) + (625 * 10 + 10)),  # SEEDS 001.1: flatten 625
    ("conv2", (1, 28, 28), (20 * 16 + 20) + (20 * 9 + 1) + (529 * 10 + 10)),  # flatten 23x23 = 529
    ("lenet5", (3, 32, 32), (3 * 25 * 6 + 6) + (6 * 25 * 16 + 16) + (400 * 120 + 120) + (120 * 84 + 84) + 850),
    ("dense10k", (3, 32, 32), (3 * 25 * 3 + 3) + (2352 * 10_000 + 10_000) + (10_000 * 10 + 10)),
    ("cnn3-512-0.1", (1, 28, 28), 320 + 64 + 18_496 + 128 + (1600 * 512 + 512) + 5130),
])
def test_parameter_counts_match_the_seeds_by_hand(name, shape, count):
    assert built(name, shape)[1].num_parameters() == count


@pytest.mark.parametrize("name", zoo.names() + PARAMETRIC)
def test_num_parameters_from_the_spec_counts_the_built_model(name):
    assert zoo.num_parameters(name, (3, 32, 32)) == built(name, (3, 32, 32))[1].num_parameters()


def test_num_classes_sets_the_output_size():
    _, model = zoo.build("lenet5", (1, 28, 28), num_classes=7)
    assert model.eval()(np.zeros((1, 1, 28, 28), np.float32)).shape == (1, 7)


def test_parametric_names_are_parsed():
    layers = zoo.spec("cnn5-128-0.25")["layers"]
    assert [l["kernel_size"] for l in layers if l["type"] == "Conv2d"] == [5, 5]
    assert [l["p"] for l in layers if l["type"] == "Dropout"] == [0.25, 0.25]
    assert [l["out_features"] for l in layers if l["type"] == "Linear"] == [128, 10]
    hidden = [l["out_features"] for l in zoo.spec("mlp2-dropout-64-32")["layers"] if l["type"] == "Linear"]
    assert hidden == [64, 32, 10]


def test_mlp2_uses_normal_over_sqrt_fan_in_and_zero_biases():
    scratchnet.manual_seed(0)
    _, model = zoo.build("mlp2-512-256")
    first = model[1]
    assert first.weight.data.std() == pytest.approx(1 / np.sqrt(784), rel=0.02)
    assert not first.bias.data.any()
    assert [type(m).__name__ for m in zoo.build("mlp2-dropout")[1]].count("Dropout") == 2


def test_build_is_reproducible_under_manual_seed():
    scratchnet.manual_seed(3)
    a = zoo.build("lenet5")[1].state_dict()
    scratchnet.manual_seed(3)
    b = zoo.build("lenet5")[1].state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_unknown_name_lists_the_zoo():
    with pytest.raises(ValueError, match=r"unknown model 'resnet9'.*lenet5.*cnnK-N-P"):
        zoo.spec("resnet9")


def test_model_too_big_for_the_input_says_so():
    with pytest.raises(ValueError, match="lenet5 does not fit 10x10 images"):
        zoo.spec("lenet5", (1, 10, 10))


def test_bad_dropout_in_name_is_rejected():
    with pytest.raises(ValueError, match=r"dropout p must be in \[0, 1\)"):
        zoo.spec("cnn3-128-1.5")


def test_every_architecture_is_described():
    assert all(zoo.describe(name) for name in zoo.names())
    assert "SEEDS 002" in zoo.describe("cnn7-64-0.5")


def test_importing_the_zoo_loads_no_training_download_or_progress_bar_module():
    loaded = run_python(
        "import sys, scratchnet.zoo\n"
        "print(' '.join(m for m in sys.modules if m == 'tqdm' or m.startswith(('scratchnet.train', "
        "'scratchnet.data.download', 'tqdm.'))))\n"
    )
    assert loaded == ""
