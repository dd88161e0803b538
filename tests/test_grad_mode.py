"""nn.enable_grad(): backward through an eval-mode network (BatchNorm on running statistics, Dropout
off), as PyTorch allows, e.g. for an input gradient (FGSM, saliency) or frozen-BatchNorm fine-tuning."""
import threading

import numpy as np
import pytest
import torch
from gradcheck import check_module_grads
from parity import assert_same_step_from_state, randn

import scratchnet
from scratchnet import nn


def convnet(lib):
    return lib.Sequential(lib.Conv2d(3, 8, 3, padding=1), lib.BatchNorm2d(8), lib.ReLU(), lib.Dropout(0.5),
                          lib.MaxPool2d(2), lib.Conv2d(8, 8, 3), lib.BatchNorm2d(8), lib.LeakyReLU(0.1),
                          lib.Flatten(), lib.Linear(8 * 2 * 2, 10), lib.BatchNorm1d(10))


def with_statistics(model):
    """Running statistics away from their initial zeros and ones, as after training."""
    rng = np.random.default_rng(3)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean[...] = rng.normal(size=m.num_features)
            m.running_var[...] = rng.uniform(0.5, 2, size=m.num_features)
            if m.affine:
                m.weight.data[...] = rng.uniform(0.5, 1.5, size=m.num_features)
    return model


def test_eval_mode_step_matches_torch_inside_enable_grad():
    scratchnet.manual_seed(0)
    ours, theirs = with_statistics(convnet(nn)).eval(), convnet(torch.nn).eval()
    x = randn((4, 3, 8, 8), 0)
    running = [m.running_mean.copy() for m in ours.modules() if isinstance(m, nn.BatchNorm2d)]
    with nn.enable_grad():
        assert_same_step_from_state(ours, theirs, x)  # outputs, dL/dx and every parameter's gradient
    assert all(np.array_equal(a, m.running_mean) for a, m in
               zip(running, [m for m in ours.modules() if isinstance(m, nn.BatchNorm2d)]))  # eval: not updated


@pytest.mark.parametrize("layer", [nn.BatchNorm2d(3), nn.BatchNorm1d(3), nn.Dropout(0.4),
                                   nn.BatchNorm2d(3, affine=False)], ids=repr)
def test_eval_mode_gradients_match_finite_differences(layer):
    layer = with_statistics(nn.Sequential(layer.double()))
    shape = (2, 3, 4, 5) if not isinstance(layer[0], nn.BatchNorm1d) else (4, 3)
    check_module_grads(layer, randn(shape, 1), train=False)


def test_an_fgsm_input_gradient_as_in_the_pytorch_tutorial():
    """model.eval(); loss.backward(); the sign of dL/dx perturbs the image (Goodfellow et al. 2015)."""
    scratchnet.manual_seed(1)
    model = with_statistics(convnet(nn)).eval()
    reference = convnet(torch.nn).eval()
    reference.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in model.state_dict().items()})
    x, y = randn((5, 3, 8, 8), 2), np.array([1, 2, 3, 4, 5])
    loss_fn = nn.CrossEntropyLoss()
    with nn.enable_grad():
        loss_fn(model(x), y)
    dx = model.backward(loss_fn.backward())
    xt = torch.from_numpy(x.copy()).requires_grad_()
    torch.nn.functional.cross_entropy(reference(xt), torch.from_numpy(y)).backward()
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-4, atol=1e-7)
    adversarial = np.clip(x + 0.1 * np.sign(dx), -3, 3)  # the tutorial's perturbed image
    assert loss_fn(model(adversarial), y) > loss_fn(model(x), y)


def test_eval_forwards_keep_nothing_outside_enable_grad_and_say_how_to_backpropagate():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU()).eval()
    model(randn((2, 3), 0))
    assert all(value is None for m in model.modules() for key, value in vars(m).items()
               if key in ("_x", "_state", "_mask"))
    with pytest.raises(RuntimeError, match=r"unless run inside `with nn.enable_grad\(\):`"):
        model.backward(np.ones((2, 4), np.float32))


def test_enable_grad_is_per_thread_and_nests():
    seen = []
    with nn.enable_grad():
        with nn.enable_grad():
            assert nn.grad_mode.is_enabled()
        assert nn.grad_mode.is_enabled()
        thread = threading.Thread(target=lambda: seen.append(nn.grad_mode.is_enabled()))
        thread.start()
        thread.join()
    assert seen == [False] and not nn.grad_mode.is_enabled()


def test_a_module_called_twice_in_an_enable_grad_pass_is_refused_as_in_training():
    relu = nn.ReLU()
    model = nn.Sequential(nn.Linear(2, 2), relu, nn.Linear(2, 2), relu).eval()
    model(randn((1, 2), 0))  # fine without kept state: eval-mode weight sharing
    with nn.enable_grad(), pytest.raises(RuntimeError, match="called twice in one forward pass"):
        model(randn((1, 2), 0))
