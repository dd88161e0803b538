"""Parity with PyTorch: activations, losses and an MLP give the same values and gradients."""
import numpy as np
import pytest
import torch

from scratchnet import nn

RNG = np.random.default_rng(0)
X = (RNG.normal(size=(6, 5)) * 3).astype(np.float32)
TOL = dict(rtol=1e-5, atol=1e-6)

ACTIVATIONS = [
    (nn.ReLU(), torch.nn.ReLU()),
    (nn.LeakyReLU(0.2), torch.nn.LeakyReLU(0.2)),
    (nn.ELU(alpha=0.7), torch.nn.ELU(alpha=0.7)),
    (nn.Sigmoid(), torch.nn.Sigmoid()),
    (nn.Tanh(), torch.nn.Tanh()),
    (nn.Softmax(dim=1), torch.nn.Softmax(dim=1)),
    (nn.Softmax(dim=0), torch.nn.Softmax(dim=0)),
    (nn.GELU(), torch.nn.GELU()),
    (nn.GELU(approximate="tanh"), torch.nn.GELU(approximate="tanh")),
    (nn.Flatten(), torch.nn.Flatten()),
    (nn.SiLU(), torch.nn.SiLU()),
    (nn.Mish(), torch.nn.Mish()),
    (nn.Hardswish(), torch.nn.Hardswish()),
    (nn.ReLU6(), torch.nn.ReLU6()),
    (nn.Softplus(), torch.nn.Softplus()),
    (nn.Softplus(beta=1.5, threshold=2), torch.nn.Softplus(beta=1.5, threshold=2)),
    (nn.LogSoftmax(dim=1), torch.nn.LogSoftmax(dim=1)),
    (nn.LogSoftmax(dim=0), torch.nn.LogSoftmax(dim=0)),
]


def torch_forward_backward(module, x, grad_output):
    xt = torch.from_numpy(x).requires_grad_()
    yt = module(xt)
    yt.backward(torch.from_numpy(grad_output))
    return yt.detach().numpy(), xt.grad.numpy()


@pytest.mark.parametrize("ours, theirs", ACTIVATIONS, ids=lambda m: repr(m))
def test_activation_matches_torch(ours, theirs):
    x = X.reshape(6, 5, 1) if isinstance(ours, nn.Flatten) else X
    y = ours(x)
    g = RNG.normal(size=y.shape).astype(np.float32)
    y_torch, grad_torch = torch_forward_backward(theirs, x, g)
    assert y.dtype == np.float32 and y.shape == y_torch.shape
    np.testing.assert_allclose(y, y_torch, **TOL)
    np.testing.assert_allclose(ours.backward(g), grad_torch, **TOL)


LABELS = np.array([0, 2, 4, 1, 2, 3])
CLASS_WEIGHT = np.array([1.0, 2.0, 0.5, 1.0, 3.0], np.float32)
SAMPLE_WEIGHT = RNG.random((6, 1)).astype(np.float32)
LOSSES = [
    (nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss(), LABELS),
    (nn.CrossEntropyLoss(reduction="sum"), torch.nn.CrossEntropyLoss(reduction="sum"), LABELS),
    (nn.CrossEntropyLoss(reduction="none"), torch.nn.CrossEntropyLoss(reduction="none"), LABELS),
    (nn.CrossEntropyLoss(CLASS_WEIGHT), torch.nn.CrossEntropyLoss(torch.from_numpy(CLASS_WEIGHT)), LABELS),
    (nn.CrossEntropyLoss(label_smoothing=0.1), torch.nn.CrossEntropyLoss(label_smoothing=0.1), LABELS),
    *[
        (
            nn.CrossEntropyLoss(CLASS_WEIGHT, reduction=r, label_smoothing=0.2),
            torch.nn.CrossEntropyLoss(torch.from_numpy(CLASS_WEIGHT), reduction=r, label_smoothing=0.2),
            LABELS,
        )
        for r in ("mean", "sum", "none")
    ],
    *[
        (nn.MSELoss(reduction=r), torch.nn.MSELoss(reduction=r), RNG.random((6, 5)).astype(np.float32))
        for r in ("mean", "sum", "none")
    ],
    *[
        (
            nn.BCEWithLogitsLoss(reduction=r),
            torch.nn.BCEWithLogitsLoss(reduction=r),
            RNG.integers(0, 2, (6, 5)).astype(np.float32),
        )
        for r in ("mean", "sum", "none")
    ],
    (
        nn.BCEWithLogitsLoss(SAMPLE_WEIGHT, pos_weight=CLASS_WEIGHT),
        torch.nn.BCEWithLogitsLoss(torch.from_numpy(SAMPLE_WEIGHT), pos_weight=torch.from_numpy(CLASS_WEIGHT)),
        RNG.random((6, 5)).astype(np.float32),
    ),
]


@pytest.mark.parametrize("ours, theirs, target", LOSSES, ids=lambda v: repr(v) if isinstance(v, nn.Module) else "")
def test_loss_matches_torch(ours, theirs, target):
    value = ours(X, target)
    xt = torch.from_numpy(X).requires_grad_()
    value_torch = theirs(xt, torch.from_numpy(target))
    value_torch.backward(torch.ones_like(value_torch))
    assert np.asarray(value).dtype == np.float32 and np.shape(value) == tuple(value_torch.shape)
    np.testing.assert_allclose(value, value_torch.detach().numpy(), **TOL)
    grad = ours.backward()
    assert grad.dtype == np.float32 and grad.shape == X.shape
    np.testing.assert_allclose(grad, xt.grad.numpy(), **TOL)


def test_loss_weight_is_in_state_dict_like_torch():
    ours, theirs = nn.CrossEntropyLoss(CLASS_WEIGHT), torch.nn.CrossEntropyLoss(torch.from_numpy(CLASS_WEIGHT))
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]


def make_mlps():
    ours = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 12), nn.Tanh(), nn.Linear(12, 4))
    theirs = torch.nn.Sequential(
        torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 12), torch.nn.Tanh(), torch.nn.Linear(12, 4)
    )
    return ours, theirs


def test_mlp_matches_torch_forward_and_all_gradients():
    ours, theirs = make_mlps()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    x, y = RNG.normal(size=(5, 8)).astype(np.float32), np.array([0, 3, 1, 2, 3])

    loss_fn = nn.CrossEntropyLoss()
    loss = loss_fn(ours(x), y)
    grad_x = ours.backward(loss_fn.backward())

    xt = torch.from_numpy(x).requires_grad_()
    loss_torch = torch.nn.CrossEntropyLoss()(theirs(xt), torch.from_numpy(y))
    loss_torch.backward()

    np.testing.assert_allclose(loss, loss_torch.item(), **TOL)
    np.testing.assert_allclose(grad_x, xt.grad.numpy(), **TOL)
    for (name, p), (name_torch, p_torch) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert name == name_torch
        np.testing.assert_allclose(p.grad, p_torch.grad.numpy(), err_msg=name, **TOL)


def test_weights_move_from_torch_to_scratchnet():
    ours, theirs = make_mlps()
    ours.load_state_dict(theirs.state_dict())
    x = RNG.normal(size=(3, 8)).astype(np.float32)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours.eval()(x), expected, **TOL)
