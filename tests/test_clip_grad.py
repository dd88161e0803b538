"""nn.utils.clip_grad_norm_ and clip_grad_value_ against torch.nn.utils: same clipped gradients, same return."""
import math

import numpy as np
import pytest
import torch

from scratchnet import nn
from scratchnet.nn.utils import clip_grad_norm_, clip_grad_value_

SHAPES = [(4, 3), (3,), (2, 2, 2)]


def twin_params(scale, dtype=np.float32, seed=0):
    """The same gradients on scratchnet Parameters and torch parameters (one without a gradient)."""
    rng = np.random.default_rng(seed)
    grads = [(rng.standard_normal(s) * scale).astype(dtype) for s in SHAPES]
    ours = [nn.Parameter(np.zeros(s, dtype)) for s in SHAPES] + [nn.Parameter(np.zeros(2, dtype))]
    theirs = [torch.nn.Parameter(torch.zeros(s, dtype=torch.from_numpy(grads[0]).dtype)) for s in SHAPES]
    for p, t, g in zip(ours, theirs, grads):
        p.grad, t.grad = g.copy(), torch.from_numpy(g.copy())
    return ours, theirs


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("max_norm, norm_type, scale", [
    (1.0, 2.0, 1.0), (100.0, 2.0, 1.0), (0.5, 1.0, 3.0), (0.3, math.inf, 2.0), (2.0, 3.0, 1.0), (1.0, "inf", 1.0),
])
def test_clip_grad_norm_matches_torch(max_norm, norm_type, scale, dtype):
    ours, theirs = twin_params(scale, dtype)
    total = clip_grad_norm_(iter(ours), max_norm, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, float(norm_type))
    assert total.dtype == dtype and total.shape == ()
    np.testing.assert_allclose(total, expected.numpy(), rtol=1e-6)
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-6)
    assert ours[-1].grad is None


def test_clip_grad_norm_nonfinite_as_torch_or_an_error():
    grad = np.array([1.0, np.inf, 1.0], np.float32)
    p = nn.Parameter(np.zeros(3, np.float32))
    p.grad = grad.copy()
    with pytest.raises(RuntimeError, match="total norm of order 2.0 of the gradients is inf"):
        clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(p.grad, grad)  # untouched
    assert clip_grad_norm_(p, 1.0) == np.inf
    np.testing.assert_array_equal(p.grad, [0, np.nan, 0])  # torch: scaled by 0
    assert clip_grad_norm_([nn.Parameter(np.zeros(2))], 1.0) == 0.0  # no gradients at all


def test_clip_grad_value_matches_torch():
    ours, theirs = twin_params(2.0)
    assert clip_grad_value_(ours, 0.7) is None
    torch.nn.utils.clip_grad_value_(theirs, 0.7)
    for p, t in zip(ours, theirs):
        np.testing.assert_array_equal(p.grad, t.grad.numpy())


def test_clipping_rejects_what_is_not_a_parameter():
    with pytest.raises(TypeError, match="clip_grad_norm_ takes Parameters"):
        clip_grad_norm_([np.zeros(2)], 1.0)
    with pytest.raises(TypeError, match="clip_grad_value_ takes Parameters"):
        clip_grad_value_([np.zeros(2)], 1.0)
