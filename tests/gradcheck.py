"""Finite-difference gradient checks in float64, shared by the engine's tests.

For a module m and a random projection r, the scalar L = Σ r · m(x) has dL/dy = r, so
``m.backward(r)`` must equal the central difference (L(θ+h) - L(θ-h)) / 2h for every
input element and every parameter element.
"""
from __future__ import annotations

import contextlib

import numpy as np

from scratchnet import nn


def numeric_grad(f, array: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of the scalar function f() with respect to ``array`` (in place)."""
    grad = np.zeros_like(array)
    flat, gflat = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        up = f()
        flat[i] = old - h
        down = f()
        flat[i] = old
        gflat[i] = (up - down) / (2 * h)
    return grad


def check_module_grads(module, x: np.ndarray, seed: int = 0, atol: float = 1e-6, rtol: float = 1e-5, forward=None,
                       train: bool = True):
    """Assert that ``module.backward`` matches finite differences for x and every parameter.

    The module is switched to float64 and train mode (``train=False``: eval mode, its forward run
    inside ``nn.enable_grad()``). ``forward(module, x)`` may replace ``module(x)``, e.g. to reseed
    dropout so every evaluation draws the same mask.
    """
    module.double().train(train)
    x = x.astype(np.float64)
    run = forward or (lambda m, inp: m(inp))
    r = np.random.default_rng(seed).normal(size=run(module, x).shape)

    def loss():
        return float(np.sum(run(module, x) * r))

    module.zero_grad()
    with contextlib.nullcontext() if train else nn.enable_grad():
        run(module, x)
    grad_x = module.backward(r.copy())
    np.testing.assert_allclose(grad_x, numeric_grad(loss, x), atol=atol, rtol=rtol, err_msg="input gradient")
    analytic = {name: p.grad.copy() for name, p in module.named_parameters()}
    for name, p in module.named_parameters():
        np.testing.assert_allclose(analytic[name], numeric_grad(loss, p.data), atol=atol, rtol=rtol, err_msg=f"grad of {name}")


def check_loss_grads(loss_fn, logits: np.ndarray, target, atol: float = 1e-6, rtol: float = 1e-5):
    """Assert that ``loss_fn.backward()`` matches finite differences of ``loss_fn(logits, target)``."""
    logits = logits.astype(np.float64)
    loss_fn(logits, target)
    analytic = loss_fn.backward()
    numeric = numeric_grad(lambda: float(loss_fn(logits, target)), logits)
    np.testing.assert_allclose(analytic, numeric, atol=atol, rtol=rtol, err_msg="loss gradient")
