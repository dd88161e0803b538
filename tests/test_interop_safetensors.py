"""Every zoo model through safetensors: into the same torch.nn model (safetensors.torch.load_file) and back
into scratchnet, with the same outputs."""
import numpy as np
import pytest
from test_zoo import torch_equivalent
from torch_resnets import TORCH_MODELS

import scratchnet
from scratchnet import zoo
from scratchnet.interop import safetensors_io
from scratchnet.train import pretrained

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch", reason="pip install 'scratchnet[safetensors]'")


def zoo_shape(name):
    if name.startswith("resnet"):
        return (3, 16, 16)  # the same arithmetic as on 32x32 at a quarter of the cost (as test_resnets.py)
    return (3, 32, 32) if "cifar" in name else (1, 8, 8) if name == "dense10k" else (1, 28, 28)


@pytest.mark.parametrize("name", zoo.names())
def test_zoo_model_round_trips_through_safetensors_and_torch(name, tmp_path):
    shape = zoo_shape(name)
    scratchnet.manual_seed(0)
    spec, model = zoo.build(name, shape)
    path = tmp_path / "weights.safetensors"
    safetensors_io.save(path, model.state_dict(), {"scratchnet_model": {"spec": spec}})
    x = np.random.default_rng(1).normal(size=(3, *shape)).astype(np.float32)
    expected = model.eval()(x)
    net = TORCH_MODELS[name](shape[0]) if name in TORCH_MODELS else torch_equivalent(spec)  # ResNets are trees
    net.load_state_dict(safetensors_torch.load_file(str(path)))  # strict: every key and shape of torch's model
    with torch.no_grad():
        np.testing.assert_allclose(net.eval()(torch.from_numpy(x)).numpy(), expected, rtol=1e-4, atol=1e-5)
    scratchnet.manual_seed(1)
    _, fresh = zoo.build(name, shape)
    pretrained.init_from(fresh, path)
    np.testing.assert_array_equal(fresh.eval()(x), expected)
    state, meta = safetensors_io.read(path)
    assert set(state) == set(model.state_dict()) and meta["format"] == "pt"
