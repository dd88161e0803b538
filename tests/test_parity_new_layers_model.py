"""A network that chains the new layers (layouts passed from one to the next, e.g. Conv2d's channels-last
views) gives torch's output, input gradient and every parameter gradient from the same state_dict."""
import numpy as np
import torch
from parity import assert_close, assert_same_step, randn, to_torch_state

import scratchnet
from scratchnet import nn, optim


def chain(lib):
    return lib.Sequential(
        lib.Conv2d(3, 8, 3, padding="same"), lib.GroupNorm(2, 8), lib.SiLU(),
        lib.Conv2d(8, 8, 3, padding=1, groups=8), lib.BatchNorm2d(8), lib.Hardswish(),
        lib.Conv2d(8, 16, 3, padding=2, dilation=2, groups=2), lib.PReLU(16), lib.MaxPool2d(2, ceil_mode=True),
        lib.ConvTranspose2d(16, 8, 2, stride=2), lib.Mish(), lib.ZeroPad2d(1), lib.AvgPool2d(3, stride=2, ceil_mode=True),
        lib.Upsample(scale_factor=2), lib.ReLU6(), lib.Dropout2d(0.0), lib.AdaptiveAvgPool2d(2),
        lib.Flatten(), lib.Unflatten(1, (8, 4)), lib.LayerNorm(4), lib.Flatten(), lib.Linear(32, 10),
        lib.Softplus(), lib.LogSoftmax(dim=1),
    )


def test_chain_of_new_layers_matches_torch():
    """In float64: through 24 layers float32 rounding alone can move a small gradient sum by 1e-4."""
    scratchnet.manual_seed(0)
    ours, theirs = chain(nn).double(), chain(torch.nn).double()
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == \
           [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    theirs.load_state_dict(to_torch_state(ours))
    for step in range(2):
        assert_same_step(ours, theirs, randn((4, 3, 13, 11), step).astype(np.float64), seed=7 + step)
        ours.zero_grad()
        theirs.zero_grad()
    x = randn((2, 3, 13, 11), 5).astype(np.float64)
    assert_close(ours.eval()(x), theirs.eval()(torch.from_numpy(x)).detach().numpy(), "eval output")


def test_chain_trains_with_nll_loss_and_clipping():
    scratchnet.manual_seed(1)
    model, loss_fn = chain(nn), nn.NLLLoss()
    x, y = randn((8, 3, 13, 11), 0), np.arange(8) % 10
    optimizer = optim.AdamW(
        [{"params": [p for p in model.parameters() if p.data.ndim > 1]},
         {"params": [p for p in model.parameters() if p.data.ndim <= 1], "weight_decay": 0}], lr=0.01)
    first = float(loss_fn(model(x), y))
    for _ in range(30):
        loss = loss_fn(model(x), y)
        model.backward(loss_fn.backward())
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        optimizer.zero_grad()
    assert float(loss) < 0.5 * first
