import math

import numpy as np
import pytest

import scratchnet
from scratchnet import nn
from gradcheck import check_loss_grads, numeric_grad

RNG = np.random.default_rng(0)
LOGITS = RNG.normal(size=(5, 4)) * 2
LABELS = np.array([0, 3, 1, 3, 2])
CLASS_WEIGHT = np.array([1.0, 2.0, 0.5, 3.0])
PROBS = RNG.random((5, 4))
BITS = RNG.integers(0, 2, (5, 4)).astype(np.float64)

REDUCED_LOSSES = [
    (nn.CrossEntropyLoss(), LABELS),
    (nn.CrossEntropyLoss(reduction="sum"), LABELS),
    (nn.CrossEntropyLoss(CLASS_WEIGHT), LABELS),
    (nn.CrossEntropyLoss(label_smoothing=0.1), LABELS),
    (nn.CrossEntropyLoss(CLASS_WEIGHT, label_smoothing=0.3), LABELS),
    (nn.CrossEntropyLoss(CLASS_WEIGHT, reduction="sum", label_smoothing=0.3), LABELS),
    (nn.MSELoss(), PROBS),
    (nn.MSELoss(reduction="sum"), PROBS),
    (nn.BCEWithLogitsLoss(), BITS),
    (nn.BCEWithLogitsLoss(reduction="sum"), PROBS),
    (nn.BCEWithLogitsLoss(pos_weight=CLASS_WEIGHT), PROBS),
    (nn.BCEWithLogitsLoss(RNG.random((5, 1)), pos_weight=CLASS_WEIGHT), BITS),
]
UNREDUCED_LOSSES = [
    (nn.CrossEntropyLoss(reduction="none"), LABELS, (5,)),
    (nn.CrossEntropyLoss(CLASS_WEIGHT, reduction="none", label_smoothing=0.2), LABELS, (5,)),
    (nn.MSELoss(reduction="none"), PROBS, (5, 4)),
    (nn.BCEWithLogitsLoss(reduction="none", pos_weight=CLASS_WEIGHT), PROBS, (5, 4)),
]


@pytest.mark.parametrize("loss_fn, target", REDUCED_LOSSES, ids=lambda v: repr(v) if isinstance(v, nn.Module) else "")
def test_gradients_match_finite_differences(loss_fn, target):
    check_loss_grads(loss_fn, LOGITS, target)


@pytest.mark.parametrize("loss_fn, target, shape", UNREDUCED_LOSSES, ids=lambda v: repr(v) if isinstance(v, nn.Module) else "")
def test_reduction_none_returns_each_loss_and_the_gradient_of_their_sum(loss_fn, target, shape):
    logits = LOGITS.copy()
    losses = loss_fn(logits, target)
    assert losses.shape == shape
    analytic = loss_fn.backward()
    np.testing.assert_allclose(analytic, numeric_grad(lambda: loss_fn(logits, target).sum(), logits), rtol=1e-5, atol=1e-6)


def test_reductions_agree():
    for make, target in ((nn.CrossEntropyLoss, LABELS), (nn.MSELoss, PROBS), (nn.BCEWithLogitsLoss, BITS)):
        each = make(reduction="none")(LOGITS, target)
        np.testing.assert_allclose(make(reduction="sum")(LOGITS, target), each.sum())
        np.testing.assert_allclose(make(reduction="mean")(LOGITS, target), each.mean())


def test_cross_entropy_values_by_hand():
    log_p = LOGITS - np.log(np.exp(LOGITS).sum(axis=1, keepdims=True))
    picked = -log_p[np.arange(5), LABELS]
    np.testing.assert_allclose(nn.CrossEntropyLoss()(LOGITS, LABELS), picked.mean())
    w = CLASS_WEIGHT[LABELS]
    np.testing.assert_allclose(nn.CrossEntropyLoss(CLASS_WEIGHT)(LOGITS, LABELS), (w * picked).sum() / w.sum())
    smooth = -log_p.mean(axis=1)
    np.testing.assert_allclose(nn.CrossEntropyLoss(label_smoothing=0.4)(LOGITS, LABELS), (0.6 * picked + 0.4 * smooth).mean())


def test_losses_return_a_scalar_of_the_input_dtype():
    for loss_fn, target in REDUCED_LOSSES:
        for dtype in (np.float32, np.float64):
            value = loss_fn(LOGITS.astype(dtype), target)
            assert np.ndim(value) == 0 and value.dtype == dtype, repr(loss_fn)
            grad = loss_fn.backward()
            assert grad.dtype == dtype and grad.shape == LOGITS.shape, repr(loss_fn)


def test_huge_logits_stay_finite():
    logits = np.array([[1e4, -1e4, 0.0]], np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert nn.CrossEntropyLoss()(logits, np.array([1])) == pytest.approx(2e4)
        bce = nn.BCEWithLogitsLoss()
        assert bce(logits, np.array([[0.0, 1.0, 1.0]], np.float32)) == pytest.approx((2e4 + math.log(2)) / 3)
        np.testing.assert_allclose(bce.backward(), [[1 / 3, -1 / 3, -1 / 6]])


def test_sigmoid_outputs_with_mse_against_one_hot_targets():
    """The CNET set-up: sigmoid outputs trained with MSE towards one-hot rows."""
    sigmoid, loss_fn = nn.Sigmoid(), nn.MSELoss()
    one_hot = np.eye(4, dtype=np.float32)[LABELS]
    out = sigmoid(LOGITS.astype(np.float32))
    np.testing.assert_allclose(loss_fn(out, one_hot), ((out - one_hot) ** 2).mean(), rtol=1e-6)
    grad = sigmoid.backward(loss_fn.backward())
    np.testing.assert_allclose(grad, 2 * (out - one_hot) / out.size * out * (1 - out), rtol=1e-5)


@pytest.mark.parametrize(
    "layers, loss_fn, as_target",
    [
        (lambda: [nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2)], nn.CrossEntropyLoss(), lambda y: y),
        (
            lambda: [nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2), nn.Sigmoid()],
            nn.MSELoss(),
            lambda y: np.eye(2, dtype=np.float32)[y],
        ),
    ],
    ids=["tanh-cross-entropy", "relu-sigmoid-mse"],
)
def test_mlp_learns_xor_with_gradient_descent(layers, loss_fn, as_target):
    scratchnet.manual_seed(0)
    model = nn.Sequential(*layers())
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    y = np.array([0, 1, 1, 0])
    target = as_target(y)
    for _ in range(2000):
        loss_fn(model(x), target)
        model.backward(loss_fn.backward())
        for p in model.parameters():
            p.data -= 0.5 * p.grad
        model.zero_grad()
    assert (model.eval()(x).argmax(axis=1) == y).all()


@pytest.mark.parametrize("make", [nn.CrossEntropyLoss, nn.MSELoss, nn.BCEWithLogitsLoss])
def test_unknown_reduction_is_rejected_at_construction(make):
    with pytest.raises(ValueError, match=r"reduction must be one of \('mean', 'sum', 'none'\), got 'average'"):
        make(reduction="average")


@pytest.mark.parametrize(
    "target, message",
    [
        (np.array([0, 1, 4, 0, 0]), r"labels must lie in \[0, 3\] for 4 classes, got labels from 0 to 4"),
        (np.array([0, -1, 2, 0, 0]), r"labels must lie in \[0, 3\]"),
        (np.array([0.0, 1, 2, 0, 0]), r"integer class labels of shape \(5,\)"),
        (np.eye(4)[LABELS][:, :3], r"target.argmax\(axis=1\)"),  # np.eye(4)[LABELS] is a probability target
        (np.array([0, 1, 2]), r"integer class labels of shape \(5,\), got an array of shape \(3,\)"),
        ([0, 1, 2, 0, 0], r"got a list"),
    ],
)
def test_cross_entropy_rejects_bad_labels(target, message):
    with pytest.raises(ValueError, match=message):
        nn.CrossEntropyLoss()(LOGITS, target)


def test_cross_entropy_rejects_bad_logits_and_weights():
    with pytest.raises(ValueError, match=r"logits of shape \(N, C\)"):
        nn.CrossEntropyLoss()(LOGITS[None], LABELS)
    with pytest.raises(ValueError, match="pass one weight per class"):
        nn.CrossEntropyLoss(np.ones(3))(LOGITS, LABELS)
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        nn.CrossEntropyLoss(label_smoothing=1.5)


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_nan_logits_are_a_clear_error(reduction):
    logits = LOGITS.copy()
    logits[2, 1] = np.nan
    for loss_fn, target in ((nn.CrossEntropyLoss(reduction=reduction), LABELS), (nn.MSELoss(reduction=reduction), PROBS)):
        with pytest.raises(ValueError, match="not finite because the input contains NaN"):
            loss_fn(logits, target)


def test_elementwise_losses_reject_mismatched_targets():
    with pytest.raises(ValueError, match=r"MSELoss: target must be a numeric array of the input's shape \(5, 4\)"):
        nn.MSELoss()(LOGITS, LABELS)
    with pytest.raises(ValueError, match="pos_weight of shape \\(3,\\) does not broadcast"):
        nn.BCEWithLogitsLoss(pos_weight=np.ones(3))(LOGITS, PROBS)


def test_eval_mode_loss_keeps_nothing():
    loss_fn = nn.CrossEntropyLoss().eval()
    loss_fn(LOGITS, LABELS)
    with pytest.raises(RuntimeError, match="without a forward pass"):
        loss_fn.backward()
