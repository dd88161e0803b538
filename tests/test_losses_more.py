"""NLLLoss, CrossEntropyLoss's ignore_index / probability targets / (N, C, d1, ...) inputs, L1Loss,
SmoothL1Loss, BCELoss and KLDivLoss: finite differences, PyTorch parity for every reduction, errors."""
import numpy as np
import pytest
import torch
from gradcheck import check_loss_grads

from scratchnet import nn

RNG = np.random.default_rng(0)
W = np.array([1.0, 2.0, 0.5, 3.0], np.float32)


def logits(shape, seed=0):
    return (np.random.default_rng(seed).normal(size=shape) * 2).astype(np.float32)


def labels(shape, seed=1, ignore=None):
    y = np.random.default_rng(seed).integers(0, 4, shape)
    if ignore is not None:
        y.reshape(-1)[::3] = ignore
    return y


def probabilities(shape, seed=2, axis=1):
    p = np.random.default_rng(seed).random(shape).astype(np.float32)
    return p / p.sum(axis=axis, keepdims=True)


def log_probabilities(shape, seed=0):
    x = logits(shape, seed)
    return (x - np.log(np.exp(x).sum(axis=1, keepdims=True))).astype(np.float32)


# (our loss, torch's, input, target); every one in each reduction
CASES = [
    ("NLLLoss", dict(), log_probabilities((6, 4)), labels(6)),
    ("NLLLoss", dict(weight=W, ignore_index=2), log_probabilities((6, 4)), labels(6)),
    ("NLLLoss", dict(weight=W), log_probabilities((3, 4, 2, 5)), labels((3, 2, 5))),
    ("NLLLoss", dict(ignore_index=-1), log_probabilities((2, 4, 5)), labels((2, 5), ignore=-1)),
    ("CrossEntropyLoss", dict(ignore_index=-100), logits((6, 4)), labels(6, ignore=-100)),
    ("CrossEntropyLoss", dict(weight=W, ignore_index=3, label_smoothing=0.2), logits((7, 4)), labels(7)),
    ("CrossEntropyLoss", dict(weight=W, label_smoothing=0.1), logits((3, 4, 2, 5)), labels((3, 2, 5), ignore=-100)),
    ("CrossEntropyLoss", dict(), logits((2, 4, 3)), labels((2, 3))),
    ("CrossEntropyLoss", dict(), logits((6, 4)), probabilities((6, 4))),
    ("CrossEntropyLoss", dict(weight=W, label_smoothing=0.3), logits((6, 4)), probabilities((6, 4))),
    ("CrossEntropyLoss", dict(weight=W), logits((2, 4, 3, 2)), probabilities((2, 4, 3, 2))),
    ("L1Loss", dict(), logits((5, 3)), logits((5, 3), 1)),
    ("SmoothL1Loss", dict(), logits((5, 3)), logits((5, 3), 1)),
    ("SmoothL1Loss", dict(beta=0.5), logits((4, 2, 3)), logits((4, 2, 3), 1)),
    ("SmoothL1Loss", dict(beta=0.0), logits((5, 3)), logits((5, 3), 1)),
    ("BCELoss", dict(), probabilities((5, 3)), RNG.integers(0, 2, (5, 3)).astype(np.float32)),
    ("BCELoss", dict(weight=RNG.random((5, 1)).astype(np.float32)), probabilities((5, 3)), probabilities((5, 3), 3)),
    ("KLDivLoss", dict(), log_probabilities((5, 4)), probabilities((5, 4), 3)),
    ("KLDivLoss", dict(log_target=True), log_probabilities((5, 4)), log_probabilities((5, 4), 3)),
]
REDUCTIONS = {"KLDivLoss": ("mean", "sum", "none", "batchmean")}


def expanded():
    for name, kwargs, x, t in CASES:
        for reduction in REDUCTIONS.get(name, ("mean", "sum", "none")):
            yield pytest.param(name, {**kwargs, "reduction": reduction}, x, t,
                               id=f"{name}-{reduction}-{','.join(kwargs)}-{x.shape}-{t.dtype.kind}")


ALL = list(expanded())
# 'none' has no scalar to difference ('sum' covers its gradient); SmoothL1Loss with beta=0 is |d|,
# not differentiable at its kink (L1Loss covers it away from 0)
DIFFERENTIABLE = [p for p in ALL if p.values[1]["reduction"] != "none" and p.values[1].get("beta") != 0.0]


def torch_kwargs(kwargs):
    return {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides the total loss")
@pytest.mark.parametrize("name, kwargs, x, target", ALL)
def test_matches_torch(name, kwargs, x, target):
    ours, theirs = getattr(nn, name)(**kwargs), getattr(torch.nn, name)(**torch_kwargs(kwargs))
    value = ours(x, target)
    xt = torch.from_numpy(x.copy()).requires_grad_()
    value_torch = theirs(xt, torch.from_numpy(target))
    value_torch.backward(torch.ones_like(value_torch))
    assert np.asarray(value).dtype == np.float32 and np.shape(value) == tuple(value_torch.shape)
    np.testing.assert_allclose(value, value_torch.detach().numpy(), rtol=1e-5, atol=1e-6)
    grad = ours.backward()
    assert grad.dtype == np.float32 and grad.shape == x.shape
    np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides the total loss")
@pytest.mark.parametrize("name, kwargs, x, target", ALL)
def test_an_upstream_gradient_scales_as_in_torch(name, kwargs, x, target):
    """loss_fn.backward(g) = torch's loss.backward(g): per-element weights for 'none', a number otherwise."""
    ours, theirs = getattr(nn, name)(**kwargs), getattr(torch.nn, name)(**torch_kwargs(kwargs))
    value = ours(x, target)
    upstream = np.random.default_rng(5).uniform(-2, 2, np.shape(value)).astype(np.float32)
    xt = torch.from_numpy(x.copy()).requires_grad_()
    theirs(xt, torch.from_numpy(target)).backward(torch.from_numpy(upstream))
    np.testing.assert_allclose(ours.backward(upstream), xt.grad.numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"upstream gradient must be numbers of the loss's shape"):
        ours.backward(np.ones(np.shape(value) + (2,), np.float32))


def test_per_sample_weights_through_reduction_none_train_a_model():
    """The torch idiom (criterion(out, y) * w).sum() / w.sum(): the upstream gradient is w / w.sum()."""
    model = nn.Linear(3, 4)
    x, y = logits((5, 3)), labels(5)
    w = np.array([1.0, 0.0, 2.0, 1.0, 0.5], np.float32)
    loss_fn = nn.CrossEntropyLoss(reduction="none")
    losses = loss_fn(model(x), y)
    model.backward(loss_fn.backward(w / w.sum()))
    reference = torch.nn.Linear(3, 4)
    reference.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    weighted = torch.nn.CrossEntropyLoss(reduction="none")(reference(torch.from_numpy(x)), torch.from_numpy(y))
    ((weighted * torch.from_numpy(w)).sum() / w.sum()).backward()
    np.testing.assert_allclose(losses, weighted.detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(model.weight.grad, reference.weight.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name, kwargs, x, target", DIFFERENTIABLE)
def test_gradients_match_finite_differences(name, kwargs, x, target):
    target = target.astype(np.float64) if target.dtype.kind == "f" else target
    check_loss_grads(getattr(nn, name)(**kwargs), x.astype(np.float64), target)


def test_unbatched_class_input():
    x, y = logits(4), np.array(2)
    for ours, theirs in ((nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()),
                         (nn.NLLLoss(weight=W), torch.nn.NLLLoss(weight=torch.from_numpy(W)))):
        xt = torch.from_numpy(x.copy()).requires_grad_()
        expected = theirs(xt, torch.from_numpy(y))
        expected.backward()
        np.testing.assert_allclose(ours(x, y), expected.item(), rtol=1e-6)
        np.testing.assert_allclose(ours.backward(), xt.grad.numpy(), rtol=1e-5, atol=1e-7)
    soft = probabilities(4, axis=0)
    xt = torch.from_numpy(x.copy()).requires_grad_()
    np.testing.assert_allclose(nn.CrossEntropyLoss()(x, soft),
                               torch.nn.CrossEntropyLoss()(xt, torch.from_numpy(soft)).item(), rtol=1e-6)


def test_bce_clamps_the_log_like_torch():
    x = np.array([0.0, 1.0, 0.5], np.float32)
    t = np.array([1.0, 0.0, 1.0], np.float32)
    np.testing.assert_allclose(nn.BCELoss(reduction="none")(x, t),
                               torch.nn.BCELoss(reduction="none")(torch.from_numpy(x), torch.from_numpy(t)).numpy())


def test_kl_div_treats_zero_targets_as_zero_loss():
    x = log_probabilities((2, 3))
    t = np.array([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]], np.float32)
    expected = torch.nn.KLDivLoss(reduction="batchmean")(torch.from_numpy(x), torch.from_numpy(t)).item()
    np.testing.assert_allclose(nn.KLDivLoss(reduction="batchmean")(x, t), expected, rtol=1e-6)


def test_class_loss_errors_name_the_problem():
    x = logits((3, 4))
    with pytest.raises(ValueError, match="every target is ignore_index=-100"):
        nn.CrossEntropyLoss()(x, np.full(3, -100))
    assert nn.CrossEntropyLoss(reduction="sum")(x, np.full(3, -100)) == 0
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\] for 4 classes, got labels from 0 to 7"):
        nn.NLLLoss(ignore_index=-1)(x, np.array([0, -1, 7]))
    with pytest.raises(ValueError, match=r"integer class labels of shape \(3, 5\), got an array of shape \(3,\)"):
        nn.CrossEntropyLoss()(logits((3, 4, 5)), labels(3))
    with pytest.raises(ValueError, match=r"NLLLoss expects integer class labels of shape \(3,\)"):
        nn.NLLLoss()(x, probabilities((3, 4)))  # probabilities are CrossEntropyLoss's only
    with pytest.raises(ValueError, match="ignore_index must be an int"):
        nn.NLLLoss(ignore_index=1.5)
    with pytest.raises(ValueError, match=r"weight has shape \(4,\), but the input has 3 classes"):
        nn.NLLLoss(weight=W)(logits((2, 3)), labels(2) % 3)


def test_elementwise_loss_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"BCELoss: every input must be a probability in \[0, 1\]"):
        nn.BCELoss()(logits((3, 2)), probabilities((3, 2)))
    with pytest.raises(ValueError, match=r"reduction must be one of \('mean', 'sum', 'none', 'batchmean'\)"):
        nn.KLDivLoss(reduction="average")
    with pytest.raises(ValueError, match=r"reduction must be one of \('mean', 'sum', 'none'\), got 'batchmean'"):
        nn.L1Loss(reduction="batchmean")
    with pytest.raises(ValueError, match="beta must be >= 0"):
        nn.SmoothL1Loss(beta=-1)
    with pytest.raises(ValueError, match=r"L1Loss: target must be a numeric array of the input's shape \(3, 2\)"):
        nn.L1Loss()(logits((3, 2)), logits((2, 3)))
