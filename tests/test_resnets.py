"""The zoo's ResNets against the same networks written in torch.nn (tests/torch_resnets.py):
keys, weights copied both ways, outputs, input and parameter gradients."""
import copy

import numpy as np
import pytest
import torch

import scratchnet
from scratchnet import zoo
from scratchnet.spec import build_model, spec_of
from torch_resnets import TORCH_MODELS


def _numpy(t) -> np.ndarray:
    return t.detach().double().numpy() if isinstance(t, torch.Tensor) else np.asarray(t, dtype=np.float64)


def _relative_error(a, truth) -> float:
    return float(np.linalg.norm(_numpy(a) - truth) / max(np.linalg.norm(truth), 1e-12))


def _close(ours, truth, what, tolerance=None):
    """float64 (no ``tolerance``): elementwise to 1e-9, the same arithmetic. float32: our distance from
    the float64 truth, as a fraction of its norm, at most ``tolerance``."""
    truth = _numpy(truth)
    if tolerance is None:
        np.testing.assert_allclose(ours, truth, rtol=1e-9, atol=1e-9 * max(np.abs(truth).max(), 1), err_msg=what)
        return
    assert _relative_error(ours, truth) <= tolerance, f"{what}: {_relative_error(ours, truth):.2e} > {tolerance:.2e}"


def _float32_tolerance(truth: tuple, torch32: tuple) -> float:
    """1e-4, or ten times torch's own float32 error on this model (its worst tensor among output, dL/dx
    and parameter gradients): float32 rounding through 56 layers of train-mode BatchNorm moves some
    gradients by 1-2 % in torch as well, while float64 agrees to 1e-15."""
    (y, grad_x, grads), (y32, grad_x32, grads32) = truth, torch32
    errors = [_relative_error(y32, _numpy(y)), _relative_error(grad_x32, _numpy(grad_x))]
    errors += [_relative_error(grads32[k], _numpy(grads[k])) for k in grads]
    return max(1e-4, 10 * max(errors))


def _torch_step(model, x, grad_out, dtype):
    xt = torch.from_numpy(x).to(dtype).requires_grad_()
    yt = model.train()(xt)
    yt.backward(torch.from_numpy(grad_out).to(dtype))
    return yt, xt.grad, {k: p.grad for k, p in model.named_parameters()}


# float64 (the same arithmetic, elementwise) for each distinct design; resnet32/56 are resnet20 with more blocks.
@pytest.mark.parametrize("name, dtype", [(name, np.float32) for name in TORCH_MODELS] + [
    (name, np.float64) for name in ("resnet20", "resnet18", "resnet9-small")])
def test_zoo_resnet_matches_torch_with_weights_copied_both_ways(name, dtype):
    shape = (3, 16, 16)  # 32x32 would check the same arithmetic at four times the cost
    scratchnet.manual_seed(0)
    torch.manual_seed(0)
    _, ours = zoo.build(name, shape)
    theirs = TORCH_MODELS[name](shape[0])
    assert list(ours.state_dict()) == list(theirs.state_dict())
    # torch -> scratchnet, then a training step's forward and backward in both
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    ours.to(dtype)
    reference = copy.deepcopy(theirs).double()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, *shape)).astype(dtype)
    grad_out = rng.normal(size=(4, 10)).astype(dtype)
    truth = y, grad_x, grads = _torch_step(reference, x, grad_out, torch.float64)
    tolerance = None
    if dtype == np.float32:
        tolerance = _float32_tolerance(truth, _torch_step(theirs, x, grad_out, torch.float32))
    _close(ours.train()(x), y, "training-mode output", tolerance)
    _close(ours.backward(grad_out), grad_x, "input gradient", tolerance)
    for key, p in ours.named_parameters():
        assert p.grad.dtype == dtype
        _close(p.grad, grads[key], f"gradient of {key}", tolerance)
    for key, value in ours.state_dict().items():  # running statistics moved the same way
        _close(value, reference.state_dict()[key], f"buffer {key}", tolerance)
    # scratchnet -> torch: change our weights, copy them over, compare in eval mode
    for p in ours.parameters():
        p.data += 0.01 * rng.normal(size=p.shape).astype(dtype)
    reference.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in ours.state_dict().items()})
    with torch.no_grad():
        y = reference.eval()(torch.from_numpy(x).double())
        _close(ours.eval()(x), y, "eval-mode output after copying to torch", tolerance and 1e-4)


def test_resnet18_keys_are_torchvisions():
    _, model = zoo.build("resnet18", (3, 32, 32))
    keys = list(model.state_dict())
    assert keys[:6] == ["conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
                        "bn1.num_batches_tracked"]
    assert "layer2.0.downsample.0.weight" in keys and "layer4.1.bn2.running_mean" in keys
    assert keys[-2:] == ["fc.weight", "fc.bias"] and len(keys) == 122  # torchvision resnet18's count


@pytest.mark.parametrize("name, count", [("resnet20", 0.27e6), ("resnet32", 0.46e6), ("resnet56", 0.85e6)])
def test_cifar_resnets_have_the_papers_parameter_counts(name, count):
    assert zoo.num_parameters(name, (3, 32, 32)) == pytest.approx(count, rel=0.01)  # He et al. 2016, Table 6


def test_zoo_resnets_save_and_load_through_their_spec():
    spec, model = zoo.build("resnet20", (1, 28, 28))
    assert spec_of(model) == spec_of(build_model(spec))
    assert spec["children"]["layer2"]["layers"][0]["shortcut"] == "A"
