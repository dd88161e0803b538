"""Cases the engine audit found uncovered: each is a finite-difference check in float64 and a
PyTorch parity test (forward, input gradient, parameter gradients) like the layer tests."""
from collections import OrderedDict

import numpy as np
import pytest
import torch
from gradcheck import check_module_grads
from parity import assert_same_step, randn

from scratchnet import nn


def tie_free(shape, seed=0):
    values = np.random.default_rng(seed).permutation(int(np.prod(shape))) * 0.01 - 1.0
    return values.reshape(shape).astype(np.float32)


POOLS = [
    ("MaxPool2d", dict(kernel_size=(2, 3), stride=(1, 2))),
    ("MaxPool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("AvgPool2d", dict(kernel_size=(2, 3), stride=(1, 2))),
    ("AvgPool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
]


@pytest.mark.parametrize("name,kwargs", POOLS, ids=lambda v: str(v))
def test_pooling_takes_unbatched_input_as_torch(name, kwargs):
    """(C, H, W) in, (C, Ho, Wo) out, as torch.nn's pools."""
    x = tie_free((3, 6, 7))
    check_module_grads(getattr(nn, name)(**kwargs), x)
    assert_same_step(getattr(nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs), x)


def test_maxpool_unbatched_returns_indices_without_batch_axis():
    x = tie_free((2, 5, 6))
    y, indices = nn.MaxPool2d(2, return_indices=True)(x)
    yt, it = torch.nn.MaxPool2d(2, return_indices=True)(torch.from_numpy(x))
    np.testing.assert_array_equal(y, yt.numpy())
    np.testing.assert_array_equal(indices, it.numpy())


def test_pooling_rejects_other_ranks_naming_both_layouts():
    with pytest.raises(ValueError, match=r"expected input of shape \(N, C, H, W\) or \(C, H, W\), got \(4, 5\)"):
        nn.AvgPool2d(2)(randn((4, 5), 0))


INPLACE = [("ReLU", ()), ("ReLU6", ()), ("LeakyReLU", (0.1,)), ("ELU", (0.5,)), ("SiLU", ()), ("Mish", ()),
           ("Hardswish", ()), ("Dropout", (0.3,)), ("Dropout2d", (0.3,))]


@pytest.mark.parametrize("name,args", INPLACE, ids=lambda v: str(v))
def test_inplace_argument_is_taken_as_torch_and_leaves_the_input_alone(name, args):
    """torch code writes nn.ReLU(inplace=True): it runs, with torch's values and gradients."""
    ours, theirs = getattr(nn, name)(*args, inplace=True), getattr(torch.nn, name)(*args, inplace=True)
    assert repr(ours) == repr(theirs)
    if name.startswith("Dropout"):
        ours.eval(), theirs.eval()
    x = randn((2, 3, 4, 4), 0) * 4
    before = x.copy()
    y = ours(x)
    np.testing.assert_array_equal(x, before)
    np.testing.assert_allclose(y, theirs(torch.from_numpy(x.copy())).numpy(), rtol=1e-5, atol=1e-6)
    if not name.startswith("Dropout"):
        # torch's in-place op would overwrite a leaf tensor; its out-of-place twin gives the same gradients
        assert_same_step(getattr(nn, name)(*args, inplace=True), getattr(torch.nn, name)(*args), x)


def tied(lib):
    """Two layers sharing one weight (weight tying), written as in torch."""
    class Tied(lib.Module):
        def __init__(self):
            super().__init__()
            self.a = lib.Linear(3, 3, bias=False)
            self.b = lib.Linear(3, 3, bias=False)
            self.b.weight = self.a.weight

        def forward(self, x):
            return self.b(self.a(x))

        def backward(self, grad_output):  # torch never calls it; each layer adds its share to weight.grad
            return self.a.backward(self.b.backward(grad_output))
    return Tied()


def test_a_tied_parameter_is_listed_once_and_stepped_once_as_in_torch():
    ours, theirs = tied(nn), tied(torch.nn)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()] == ["a.weight"]
    assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters())
    assert list(ours.state_dict()) == list(theirs.state_dict())  # both keys, as torch
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    from scratchnet import optim
    step, torch_step = optim.SGD(ours.parameters(), lr=0.1), torch.optim.SGD(theirs.parameters(), lr=0.1)
    x = randn((4, 3), 0)
    y = ours(x)
    ours.backward(np.ones_like(y))
    theirs(torch.from_numpy(x)).sum().backward()
    np.testing.assert_allclose(ours.a.weight.grad, theirs.a.weight.grad.numpy(), rtol=1e-5, atol=1e-6)
    step.step(), torch_step.step()
    np.testing.assert_allclose(ours.a.weight.data, theirs.a.weight.detach().numpy(), rtol=1e-5, atol=1e-6)



def test_init_constant_fills_like_torch():
    ours, theirs = nn.Linear(3, 2), torch.nn.Linear(3, 2)
    assert nn.init.constant_(ours.bias, 0.25) is ours.bias
    torch.nn.init.constant_(theirs.bias, 0.25)
    np.testing.assert_array_equal(ours.bias.data, theirs.bias.detach().numpy())


def test_apply_and_named_children_follow_torch():
    """``model.apply(init_fn)`` (the tutorials' way to initialise) visits modules in torch's order."""
    def build(lib):
        return lib.Sequential(lib.Linear(2, 3), lib.Sequential(lib.ReLU(), lib.Linear(3, 1)))

    def visit(lib):
        seen = []
        model = build(lib)
        assert model.apply(lambda m: seen.append(type(m).__name__)) is model
        return seen, [name for name, _ in model.named_children()]
    assert visit(nn) == visit(torch.nn)

    def init(m):
        if isinstance(m, nn.Linear):
            nn.init.constant_(m.weight, 0.5)
    model = build(nn).apply(init)
    assert all(np.all(m.weight.data == 0.5) for m in model.modules() if isinstance(m, nn.Linear))


def test_sequential_item_assignment_replaces_the_child_in_place_as_torch():
    def build(lib):
        model = lib.Sequential(OrderedDict([("features", lib.Linear(4, 3)), ("head", lib.Linear(3, 2))]))
        model[-1] = lib.Linear(3, 5)
        return model
    ours, theirs = build(nn), build(torch.nn)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
           [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    assert ours.head is ours[1]
    with pytest.raises(IndexError, match="out of range"):
        ours[2] = nn.ReLU()


def test_load_state_dict_returns_the_missing_and_unexpected_keys_as_torch():
    ours, theirs = nn.Linear(2, 2), torch.nn.Linear(2, 2)
    state = {"weight": np.ones((2, 2), np.float32), "extra.weight": np.ones(1, np.float32)}
    missing, unexpected = ours.load_state_dict(state, strict=False)
    expected = theirs.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=False)
    assert (missing, unexpected) == (expected.missing_keys, expected.unexpected_keys) == (["bias"], ["extra.weight"])
    assert tuple(ours.load_state_dict(ours.state_dict())) == ([], [])



class TiedNet(nn.Module):
    """A user-written module whose constructor ties two layers' weights (saved by class path)."""

    def __init__(self, features: int = 4):
        super().__init__()
        self.flat = nn.Flatten()
        self.a = nn.Linear(features, features, bias=False)
        self.b = nn.Linear(features, features, bias=False)
        self.b.weight = self.a.weight

    def forward(self, x):
        return self.b(self.a(self.flat(x)))

    def backward(self, grad_output):
        return self.flat.backward(self.a.backward(self.b.backward(grad_output)))


def test_a_model_with_tied_weights_saves_and_loads_every_state_dict_key(tmp_path):
    """Model files check their entries by state_dict key, and EMA averages by it: a tied weight is
    listed once by named_parameters but stored under both keys, as in torch."""
    from scratchnet.train.ema import _live_arrays
    from scratchnet.train.modelfile import Preprocess, load_model, save_model
    model = TiedNet()
    assert [key for key, _ in _live_arrays(model)] == list(model.state_dict()) == ["a.weight", "b.weight"]
    save_model(tmp_path / "tied.npz", model, None, Preprocess("scale"), ["0", "1", "2", "3"], (1, 2, 2), "toy")
    loaded = load_model(tmp_path / "tied.npz", classes=[TiedNet]).model
    assert loaded.b.weight is loaded.a.weight
    np.testing.assert_array_equal(loaded.a.weight.data, model.a.weight.data)


def test_a_tied_weights_entry_is_checked_against_the_spec_before_it_is_read(tmp_path):
    """Every state_dict key of a tied model is in the shape check, so a file cannot make us allocate
    a tied weight's entry of a shape the architecture does not have."""
    import io
    import zipfile

    from scratchnet.train.modelfile import Preprocess, load_model, save_model
    save_model(tmp_path / "tied.npz", TiedNet(), None, Preprocess("scale"), ["0", "1", "2", "3"], (1, 2, 2), "toy")
    with zipfile.ZipFile(tmp_path / "tied.npz") as good, zipfile.ZipFile(tmp_path / "bad.npz", "w") as bad:
        for name in good.namelist():
            data = good.read(name)
            if name == "state/b.weight.npy":
                buffer = io.BytesIO()
                np.save(buffer, np.zeros((30, 30), np.float32))
                data = buffer.getvalue()
            bad.writestr(name, data)
    with pytest.raises(ValueError, match=r"entry 'state/b.weight' has shape \(30, 30\) but the model's spec implies"):
        load_model(tmp_path / "bad.npz", classes=[TiedNet])
