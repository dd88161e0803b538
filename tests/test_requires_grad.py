"""Parameter.requires_grad and Module.requires_grad_: freezing a pretrained backbone as in PyTorch's
transfer-learning tutorial (frozen parameters get no gradient; the new head trains as in torch)."""
import numpy as np
import pytest
import torch
from parity import randn, to_torch_state

import scratchnet
from scratchnet import nn, optim


def backbone_and_head(lib):
    return lib.Sequential(lib.Conv2d(3, 8, 3, padding=1), lib.BatchNorm2d(8), lib.ReLU(), lib.Conv2d(8, 8, 3),
                          lib.ReLU(), lib.Flatten(), lib.Linear(8 * 4 * 4, 6), lib.ReLU(), lib.Linear(6, 3))


def test_a_frozen_backbone_with_a_new_head_trains_as_in_torch():
    scratchnet.manual_seed(0)
    ours, theirs = backbone_and_head(nn), backbone_and_head(torch.nn)
    theirs.load_state_dict(to_torch_state(ours))
    for model in (ours, theirs):
        for param in model.parameters():  # the tutorial's loop
            param.requires_grad = False
    ours[-1], theirs[-1] = nn.Linear(6, 3), torch.nn.Linear(6, 3)  # a new head, trainable
    theirs[-1].load_state_dict({k: torch.from_numpy(v) for k, v in ours[-1].state_dict().items()})
    opt = optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    opt_t = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    x, y = randn((4, 3, 6, 6), 1), np.array([0, 1, 2, 1])
    frozen_before = ours[0].weight.data.copy()
    for _ in range(2):
        loss_fn = nn.CrossEntropyLoss()
        loss_fn(ours(x), y)
        assert ours.backward(loss_fn.backward(), input_grad=False) is None
        opt.step()
        opt.zero_grad()
        torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        opt_t.step()
        opt_t.zero_grad()
    assert all(p.grad is None for p in list(ours.parameters())[:-2])
    np.testing.assert_array_equal(ours[0].weight.data, frozen_before)
    for key, value in theirs.state_dict().items():  # the head moved as torch's did; the rest did not move
        np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), rtol=1e-5, atol=1e-6, err_msg=key)


def test_requires_grad_underscore_freezes_and_unfreezes_a_subtree():
    model = backbone_and_head(nn)
    assert model[:5].requires_grad_(False) is not None
    x = randn((2, 3, 6, 6), 0)
    model(x)
    dx = model.backward(np.ones((2, 3), np.float32))
    assert dx.shape == x.shape  # the input gradient still flows through frozen layers
    names = [name for name, p in model.named_parameters() if p.grad is not None]
    assert names == ["6.weight", "6.bias", "8.weight", "8.bias"]
    model.requires_grad_()
    model(x)
    model.backward(np.ones((2, 3), np.float32))
    assert all(p.grad is not None for p in model.parameters())


def test_freezing_drops_a_gradient_and_rejects_what_is_not_a_bool():
    layer = nn.Linear(2, 2)
    layer(randn((3, 2), 0))
    layer.backward(np.ones((3, 2), np.float32))
    assert layer.weight.grad is not None
    layer.weight.requires_grad = False
    assert layer.weight.grad is None
    with pytest.raises(TypeError, match="requires_grad must be True or False, got 'no'"):
        layer.bias.requires_grad = "no"
