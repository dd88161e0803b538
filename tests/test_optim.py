"""scratchnet.optim against torch.optim: same parameters, same gradients, same updates."""
import io
import json

import numpy as np
import pytest
import torch

import scratchnet.optim as optim
from scratchnet.nn import Linear, Parameter, Sequential

SHAPES = [(4, 3), (3,), (2, 2, 2)]

# (class name, constructor kwargs): the same names and arguments work for torch.optim.
CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.02)),
    ("SGD", dict(lr=0.05, momentum=0.5, maximize=True)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, betas=(0.3, 0.6))),  # 1 - beta1 >= 0.5: lerp's other rounding branch
    ("Adam", dict(lr=0.01, weight_decay=0.05, amsgrad=True, maximize=True)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.02, weight_decay=0.3, amsgrad=True)),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.5, eps=1e-6)),
    ("Adagrad", dict(lr=0.1, maximize=True)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.01, alpha=0.9, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, alpha=0.4, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, alpha=0.95, momentum=0.5, centered=True, weight_decay=0.05, eps=1e-4)),
]
TOLERANCE = {np.float32: dict(rtol=2e-6, atol=1e-7), np.float64: dict(rtol=1e-13, atol=1e-15)}


def config_id(config):
    name, kwargs = config
    return name + "(" + ",".join(f"{k}={v}" for k, v in kwargs.items()) + ")"


def random_arrays(rng, dtype):
    return [rng.standard_normal(shape).astype(dtype) for shape in SHAPES]


def set_grads(params, grads):
    for p, g in zip(params, grads):
        if isinstance(p, Parameter):
            p.grad = g.copy()
        else:
            p.grad = torch.from_numpy(g.copy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_matches_torch_over_several_steps(config, dtype):
    name, kwargs = config
    rng = np.random.default_rng(0)
    inits = random_arrays(rng, dtype)
    ours = [Parameter(a.copy()) for a in inits]
    theirs = [torch.tensor(a, requires_grad=True) for a in inits]
    opt = getattr(optim, name)(ours, **kwargs)
    torch_opt = getattr(torch.optim, name)(theirs, foreach=False, **kwargs)
    for _ in range(6):
        grads = random_arrays(rng, dtype)
        set_grads(ours, grads)
        set_grads(theirs, grads)
        opt.step()
        torch_opt.step()
        for p, t, g in zip(ours, theirs, grads):
            assert p.data.dtype == dtype
            np.testing.assert_allclose(p.data, t.detach().numpy(), **TOLERANCE[dtype])
            np.testing.assert_array_equal(p.grad, g)  # step() never modifies the gradient


def test_defaults_equal_torch():
    for name in ["SGD", "Adam", "AdamW", "Adagrad", "RMSprop"]:
        ours = getattr(optim, name)([Parameter(np.zeros(2))]).defaults
        theirs = getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)]).defaults
        assert ours == {k: theirs[k] for k in ours}, name


def two_groups_stepped_with_torch(name, defaults, override, steps, seed):
    """Our optimizer and torch's on the same two groups ({"params": first two} and {"params": last,
    **override}) after ``steps`` steps with the same gradients: (opt, our params, torch params)."""
    rng = np.random.default_rng(seed)
    inits = random_arrays(rng, np.float64)
    ours = [Parameter(a.copy()) for a in inits]
    theirs = [torch.tensor(a, requires_grad=True) for a in inits]
    opt = getattr(optim, name)([{"params": ours[:2]}, {"params": ours[2:], **override}], **defaults)
    torch_opt = getattr(torch.optim, name)([{"params": theirs[:2]}, {"params": theirs[2:], **override}],
                                           foreach=False, **defaults)
    for _ in range(steps):
        grads = random_arrays(rng, np.float64)
        set_grads(ours, grads)
        set_grads(theirs, grads)
        opt.step()
        torch_opt.step()
    return opt, ours, theirs


def test_param_groups_with_own_hyperparameters_match_torch():
    opt, ours, theirs = two_groups_stepped_with_torch("SGD", dict(lr=0.1), dict(lr=0.5, momentum=0.9), 3, seed=1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-13)


GROUP_CONFIGS = [
    ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.05), dict(weight_decay=0, lr=0.3)),
    ("SGD", dict(lr=0.1, weight_decay=0.05, nesterov=True, momentum=0.5), dict(weight_decay=0)),
    ("Adam", dict(lr=0.01, weight_decay=0.1), dict(weight_decay=0, betas=(0.5, 0.9))),
    ("AdamW", dict(lr=0.01, weight_decay=0.3), dict(weight_decay=0, amsgrad=True)),
    ("Adagrad", dict(lr=0.1, weight_decay=0.1), dict(weight_decay=0, lr_decay=0.1)),
    ("RMSprop", dict(lr=0.01, weight_decay=0.1, momentum=0.9), dict(weight_decay=0, centered=True)),
]


@pytest.mark.parametrize("name, defaults, override", GROUP_CONFIGS, ids=lambda c: str(c))
def test_every_optimizer_takes_per_group_hyperparameters_like_torch(name, defaults, override):
    """E.g. no weight decay on biases: [{"params": weights}, {"params": biases, "weight_decay": 0}]."""
    opt, ours, theirs = two_groups_stepped_with_torch(name, defaults, override, 4, seed=2)
    assert opt.param_groups[1]["weight_decay"] == 0 and opt.param_groups[0]["weight_decay"] == defaults["weight_decay"]
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-12, atol=1e-14)
    state = opt.state_dict()
    assert [g["params"] for g in state["param_groups"]] == [[0, 1], [2]]
    assert all(state["param_groups"][1][k] == v for k, v in override.items())


def test_training_linear_model_matches_torch():
    model = Sequential(Linear(5, 4, dtype=np.float64), Linear(4, 3, dtype=np.float64))
    torch_model = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Linear(4, 3)).double()
    torch_model.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    opt = optim.Adam(model.parameters(), lr=0.01, weight_decay=0.01)
    torch_opt = torch.optim.Adam(torch_model.parameters(), lr=0.01, weight_decay=0.01, foreach=False)
    rng = np.random.default_rng(2)
    for _ in range(5):
        x, direction = rng.standard_normal((8, 5)), rng.standard_normal((8, 3))
        model(x)
        model.backward(direction)  # loss = Σ y ⊙ direction
        (torch_model(torch.from_numpy(x)) * torch.from_numpy(direction)).sum().backward()
        opt.step()
        torch_opt.step()
        opt.zero_grad()
        torch_opt.zero_grad()
    for key, value in torch_model.state_dict().items():
        np.testing.assert_allclose(model.state_dict()[key], value.numpy(), rtol=1e-12, atol=1e-14)


def test_parameters_without_grad_are_untouched_and_zero_grad_sets_none():
    used, unused = Parameter(np.ones(3, np.float32)), Parameter(np.ones(2, np.float32))
    opt = optim.Adam([used, unused], lr=0.1)
    used.grad = np.ones(3, np.float32)
    opt.step()
    assert np.all(used.data < 1)
    np.testing.assert_array_equal(unused.data, np.ones(2, np.float32))
    assert unused not in opt.state
    opt.zero_grad()
    assert used.grad is None and unused.grad is None


def test_zero_grad_can_keep_zeroed_arrays():
    p = Parameter(np.ones(3))
    p.grad = np.full(3, 5.0)
    optim.SGD([p], lr=0.1).zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad, np.zeros(3))


def test_add_param_group_later_trains_with_its_own_lr():
    first, second = Parameter(np.zeros(2)), Parameter(np.zeros(2))
    opt = optim.SGD([first], lr=0.1)
    opt.add_param_group({"params": second, "lr": 1.0})
    assert opt.param_groups[1]["momentum"] == 0  # missing hyperparameters take the defaults
    first.grad, second.grad = np.ones(2), np.ones(2)
    opt.step()
    np.testing.assert_allclose(first.data, [-0.1, -0.1])
    np.testing.assert_allclose(second.data, [-1.0, -1.0])
    with pytest.raises(TypeError, match="'params' key"):
        opt.add_param_group([second])


def test_repr_lists_each_group():
    text = repr(optim.Adam([{"params": [Parameter(np.zeros(1))]}, {"params": [Parameter(np.zeros(1))], "lr": 0.5}]))
    assert text.startswith("Adam (") and "Parameter Group 1" in text and "lr: 0.5" in text and "lr: 0.001" in text


def test_step_returns_the_closure_loss():
    p = Parameter(np.array([2.0]))

    def closure():
        p.grad = 2 * p.data  # d/dp of p²
        return float(p.data[0] ** 2)

    assert optim.SGD([p], lr=0.25).step(closure) == 4.0
    np.testing.assert_allclose(p.data, [1.0])


@pytest.mark.parametrize(
    "name, kwargs, message",
    [
        ("SGD", dict(lr=0), "SGD: lr must be a number in (0, inf), got 0"),
        ("SGD", dict(lr=-0.1), "lr must be a number in (0, inf), got -0.1"),
        ("SGD", dict(momentum=-0.5), "momentum must be a number in [0, inf), got -0.5"),
        ("SGD", dict(weight_decay=-1e-4), "weight_decay must be a number in [0, inf), got -0.0001"),
        ("SGD", dict(dampening=1.5), "dampening must be a number in [0, 1], got 1.5"),
        ("SGD", dict(nesterov=True), "nesterov=True needs momentum > 0 and dampening = 0"),
        ("SGD", dict(nesterov=True, momentum=0.9, dampening=0.1), "dampening=0.1"),
        ("SGD", dict(lr="fast"), "lr must be a number in (0, inf), got 'fast'"),
        ("Adam", dict(betas=(1.0, 0.999)), "Adam: betas[0] must be a number in [0, 1), got 1.0"),
        ("Adam", dict(betas=(0.9, -0.1)), "betas[1] must be a number in [0, 1), got -0.1"),
        ("Adam", dict(betas=(0.9,)), "betas must be a pair"),
        ("Adam", dict(eps=-1e-8), "eps must be a number in [0, inf), got -1e-08"),
        ("AdamW", dict(lr=0.0), "AdamW: lr must be a number in (0, inf), got 0.0"),
        ("AdamW", dict(weight_decay=-0.01), "AdamW: weight_decay must be a number in [0, inf), got -0.01"),
        ("Adagrad", dict(lr_decay=-1), "lr_decay must be a number in [0, inf), got -1"),
        ("Adagrad", dict(initial_accumulator_value=-0.1), "initial_accumulator_value must be a number in [0, inf)"),
        ("Adagrad", dict(eps=-1.0), "Adagrad: eps must be a number in [0, inf), got -1.0"),
        ("RMSprop", dict(alpha=1.5), "RMSprop: alpha must be a number in [0, 1], got 1.5"),
        ("RMSprop", dict(momentum=-0.9), "momentum must be a number in [0, inf), got -0.9"),
        ("RMSprop", dict(lr=float("nan")), "lr must be a number in (0, inf), got nan"),
    ],
)
def test_impossible_hyperparameters_raise(name, kwargs, message):
    with pytest.raises(ValueError) as info:
        getattr(optim, name)([Parameter(np.zeros(2))], **kwargs)
    assert message in str(info.value)


def test_param_group_hyperparameters_are_checked_too():
    with pytest.raises(ValueError, match="lr must be a number in"):
        optim.SGD([{"params": [Parameter(np.zeros(2))], "lr": -1.0}], lr=0.1)


def test_bad_params_raise():
    p = Parameter(np.zeros(2))
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="iterable of Parameters"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(TypeError, match="can only optimize Parameters"):
        optim.SGD([np.zeros(2)], lr=0.1)
    with pytest.raises(ValueError, match="more than once"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    opt = optim.SGD([p], lr=0.1)
    p.grad = np.zeros(3)
    with pytest.raises(ValueError, match="gradient of shape"):
        opt.step()


def save_without_pickle(state_dict):
    """Arrays to .npz, the rest to JSON, and back: what a checkpoint writer does."""
    arrays = {}

    def pack(value, path):
        if isinstance(value, np.ndarray):
            arrays[path] = value
            return {"__array__": path}
        if isinstance(value, dict):
            return {str(k): pack(v, f"{path}/{k}") for k, v in value.items()}
        return value

    text = json.dumps(pack(state_dict, "root"))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    buffer.seek(0)
    loaded = np.load(buffer, allow_pickle=False)

    def unpack(value):
        if isinstance(value, dict):
            return loaded[value["__array__"]] if "__array__" in value else {k: unpack(v) for k, v in value.items()}
        return value

    return unpack(json.loads(text))


@pytest.mark.parametrize("through_files", [False, True], ids=["dict", "json+npz"])
@pytest.mark.parametrize("config", CONFIGS[2::3] + [("AdamW", dict(amsgrad=True))], ids=config_id)
def test_state_dict_round_trip_continues_identically(config, through_files):
    name, kwargs = config
    rng = np.random.default_rng(3)
    params = [Parameter(a) for a in random_arrays(rng, np.float32)]
    opt = getattr(optim, name)(params, **kwargs)
    for _ in range(3):
        set_grads(params, random_arrays(rng, np.float32))
        opt.step()
    saved = opt.state_dict()
    if through_files:
        saved = save_without_pickle(saved)
    copies = [Parameter(p.data.copy()) for p in params]
    resumed = getattr(optim, name)(copies, lr=0.123)  # hyperparameters come from the state_dict
    resumed.load_state_dict(saved)
    for _ in range(3):
        grads = random_arrays(rng, np.float32)
        set_grads(params, grads)
        set_grads(copies, grads)
        opt.step()
        resumed.step()
    for p, q in zip(params, copies):
        np.testing.assert_array_equal(p.data, q.data)
    assert resumed.param_groups[0]["lr"] == opt.param_groups[0]["lr"]


def test_state_dict_layout_and_copies():
    params = [Parameter(np.ones(2)), Parameter(np.ones(3))]
    opt = optim.Adam([{"params": params[:1]}, {"params": params[1:], "lr": 0.5}])
    params[1].grad = np.ones(3)
    opt.step()
    state = opt.state_dict()
    assert list(state["state"]) == [1]
    assert state["state"][1]["step"] == 1
    assert [g["params"] for g in state["param_groups"]] == [[0], [1]]
    assert state["param_groups"][1]["lr"] == 0.5 and state["param_groups"][0]["betas"] == (0.9, 0.999)
    saved = state["state"][1]["exp_avg"].copy()
    opt.step()
    np.testing.assert_array_equal(state["state"][1]["exp_avg"], saved)  # a copy, not the live buffer
    opt.load_state_dict(state)
    state["state"][1]["exp_avg"][:] = 7.0
    assert not np.any(opt.state[params[1]]["exp_avg"] == 7.0)  # loading copies too


def test_load_state_dict_rejects_mismatches_and_changes_nothing():
    params = [Parameter(np.ones((2, 2))), Parameter(np.ones(2))]
    opt = optim.SGD(params, lr=0.1, momentum=0.9)
    for p in params:
        p.grad = np.ones_like(p.data)
    opt.step()
    good = opt.state_dict()
    other = optim.SGD([Parameter(np.ones((2, 2))), Parameter(np.ones(3))], lr=0.2, momentum=0.9)
    with pytest.raises(ValueError, match=r"state 'momentum_buffer' of parameter 1 has shape \(2,\)"):
        other.load_state_dict(good)
    assert other.param_groups[0]["lr"] == 0.2 and other.state == {}
    with pytest.raises(ValueError, match="2 parameters but this optimizer's has 1"):
        optim.SGD([Parameter(np.ones(2))], lr=0.1).load_state_dict(good)
    two_groups = optim.SGD([{"params": [Parameter(np.ones(2))]}, {"params": [Parameter(np.ones(2))]}], lr=0.1)
    with pytest.raises(ValueError, match="has 1 param groups but this SGD has 2"):
        two_groups.load_state_dict(good)
    with pytest.raises(ValueError, match="different optimizer than Adam"):
        optim.Adam([Parameter(np.ones((2, 2))), Parameter(np.ones(2))]).load_state_dict(good)


def test_adamw_stays_decoupled_after_loading_adam_state():
    p = Parameter(np.ones(2))
    state = optim.Adam([p]).state_dict()
    opt = optim.AdamW([p])
    opt.load_state_dict(state)
    assert opt.param_groups[0]["decoupled_weight_decay"] is True
