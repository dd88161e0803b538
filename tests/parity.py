"""PyTorch parity helpers shared by the engine's tests: one training step of a scratchnet module and
the torch module with the same weights must give the same output, input gradient and parameter gradients."""
from __future__ import annotations

import numpy as np
import torch


def assert_close(actual, desired, what):
    """Equal within float32 rounding; sums over many terms may differ by ~1e-5 of the array's scale."""
    desired = np.asarray(desired)
    np.testing.assert_allclose(actual, desired, rtol=1e-4, atol=1e-5 * max(1.0, np.abs(desired).max()), err_msg=what)


def randn(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def to_torch_state(module):
    return {k: torch.from_numpy(np.asarray(v)) for k, v in module.state_dict().items()}


def assert_same_step(ours, theirs, x, seed=1):
    """One forward/backward of both modules on x: outputs, input grads and parameter grads agree."""
    y = ours(x)
    xt = torch.from_numpy(x.copy()).requires_grad_()
    yt = theirs(xt)
    g = randn(y.shape, seed).astype(x.dtype)
    yt.backward(torch.from_numpy(g))
    assert y.dtype == x.dtype and y.shape == tuple(yt.shape)  # float32 in, float32 out
    assert_close(y, yt.detach().numpy(), "forward")
    assert_close(ours.backward(g), xt.grad.numpy(), "input gradient")
    grads = dict(theirs.named_parameters())
    assert sorted(grads) == sorted(name for name, _ in ours.named_parameters())
    for name, p in ours.named_parameters():
        assert_close(p.grad, grads[name].grad.numpy(), f"grad of {name}")


def assert_same_step_from_state(ours, theirs, x, seed=1):
    """Copy our weights into ``theirs``, then ``assert_same_step``."""
    theirs.load_state_dict(to_torch_state(ours))
    assert_same_step(ours, theirs, x, seed)


def case_id(case) -> str:
    """A test id for a (constructor args, kwargs, input shape) case: "2,3,3,stride=2"."""
    args, kwargs, _ = case
    return ",".join(map(str, args)) + "," + ",".join(f"{k}={v}" for k, v in kwargs.items())
