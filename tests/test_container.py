"""Containers: Sequential (positional and named), ModuleList, ModuleDict, Identity, Residual."""
from collections import OrderedDict

import numpy as np
import pytest
import torch

import scratchnet
from scratchnet import nn
from gradcheck import check_module_grads


def test_sequential_from_an_ordered_dict_uses_its_names():
    model = nn.Sequential(OrderedDict([("conv", nn.Conv2d(1, 2, 3)), ("relu", nn.ReLU()), ("flat", nn.Flatten())]))
    assert list(model.state_dict()) == ["conv.weight", "conv.bias"]
    assert model.conv is model[0] and model[-1] is model.flat
    reference = torch.nn.Sequential(OrderedDict([("conv", torch.nn.Conv2d(1, 2, 3)), ("relu", torch.nn.ReLU()),
                                                 ("flat", torch.nn.Flatten())]))
    assert list(model.state_dict()) == list(reference.state_dict())


def test_sequential_indexing_slicing_append_len_iteration():
    layers = [nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2), nn.Tanh()]
    model = nn.Sequential(*layers)
    head = model[:3]
    assert isinstance(head, nn.Sequential) and list(head) == layers[:3] and len(head) == 3
    assert list(model[2:].state_dict()) == ["2.weight", "2.bias"]  # a slice keeps the names, as in torch
    assert model[-1] is layers[3] and list(iter(model)) == layers
    with pytest.raises(IndexError, match="out of range for 4 modules"):
        model[4]
    model.append(nn.Linear(2, 5))
    assert len(model) == 5 and "4.weight" in model.state_dict()
    x = np.ones((2, 4), np.float32)
    np.testing.assert_allclose(model[2:4](model[:2](x)), model[:4](x))  # the halves compose to the whole
    assert model(x).shape == (2, 5)


def test_sequential_rejects_what_is_not_a_module():
    with pytest.raises(TypeError, match="Sequential takes Modules.*got int for '1'"):
        nn.Sequential(nn.ReLU(), 3)


def test_module_list_and_dict_register_their_children_as_torch_does():
    blocks = nn.ModuleList([nn.Linear(2, 2) for _ in range(2)])
    blocks.append(nn.Linear(2, 1))
    heads = nn.ModuleDict({"cls": nn.Linear(2, 3), "box": nn.Linear(2, 4)})
    holder = nn.Module()
    holder.blocks, holder.heads = blocks, heads
    ref = torch.nn.Module()
    ref.blocks = torch.nn.ModuleList([torch.nn.Linear(2, 2) for _ in range(2)] + [torch.nn.Linear(2, 1)])
    ref.heads = torch.nn.ModuleDict({"cls": torch.nn.Linear(2, 3), "box": torch.nn.Linear(2, 4)})
    assert list(holder.state_dict()) == list(ref.state_dict())
    assert len(blocks) == 3 and isinstance(blocks[1:], nn.ModuleList) and blocks[-1].out_features == 1
    assert list(heads) == ["cls", "box"] and "cls" in heads and heads["box"].out_features == 4
    with pytest.raises(KeyError, match="has no module 'seg'; it has cls, box"):
        heads["seg"]
    with pytest.raises(NotImplementedError, match="ModuleList does not implement forward"):
        blocks(np.zeros((1, 2), np.float32))


def test_identity_passes_values_and_gradients_through():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    layer = nn.Identity(54, unused="ignored")
    assert layer(x) is x and layer.backward(x) is x


def test_residual_gradients_match_finite_differences():
    scratchnet.manual_seed(0)
    block = nn.Sequential(nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 3))
    check_module_grads(nn.Residual(block), np.random.default_rng(0).normal(size=(4, 3)))
    check_module_grads(nn.Residual(nn.Linear(3, 2), shortcut=nn.Linear(3, 2)),
                       np.random.default_rng(1).normal(size=(4, 3)))


def test_residual_shape_mismatch_names_the_module_and_both_shapes():
    stage = nn.Sequential(OrderedDict([("0", nn.Residual(nn.Conv2d(2, 4, 3, padding=1)))]))
    model = nn.Sequential(OrderedDict([("layer2", stage)]))
    with pytest.raises(ValueError, match=r"layer2\.0: Residual: the block's output \(1, 4, 5, 5\) and the "
                                         r"shortcut's output \(1, 2, 5, 5\) differ"):
        model(np.zeros((1, 2, 5, 5), np.float32))


def test_errors_inside_nested_modules_name_them_by_state_dict_prefix():
    model = nn.Sequential(OrderedDict([("features", nn.Sequential(nn.Conv2d(1, 2, 3))), ("fc", nn.Linear(5, 2))]))
    with pytest.raises(ValueError, match=r"^fc: Linear\(in_features=5.*got \(2, 2\)"):
        model.fc.eval()
        nn.Sequential(OrderedDict([("fc", model.fc)]))(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match=r"^features\.0: "):
        model(np.zeros((2, 3, 5, 5), np.float32))


@pytest.mark.parametrize("kind", ["Sequential", "ModuleList"])
def test_insert_pop_del_extend_renumber_as_torch_does(kind):
    """The same edits on scratchnet's and torch's container leave the same children under the same keys."""
    def sizes(container):  # each Linear's out_features, in order, identifies it
        return [m.out_features if hasattr(m, "out_features") else type(m).__name__ for m in container]

    def make(lib):
        layers = [lib.Linear(1, k) for k in (1, 2, 3)]
        return getattr(lib, kind)(*layers) if kind == "Sequential" else getattr(lib, kind)(layers)

    ours, theirs = make(nn), make(torch.nn)
    for container, lib in ((ours, nn), (theirs, torch.nn)):
        container.insert(1, lib.Linear(1, 10))
        container.insert(len(container) - 1, lib.Linear(1, 11))  # torch's ModuleList.insert takes no negative index
        container.insert(len(container), lib.Linear(1, 12))
        container.extend([lib.Linear(1, 13), lib.ReLU()])
        del container[0]
        del container[1:3]
    assert sizes(ours) == sizes(theirs) == [10, 3, 12, 13, "ReLU"]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    popped, popped_torch = ours.pop(1), theirs.pop(1)
    assert popped.out_features == popped_torch.out_features == 3
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias",
                                                                    "2.weight", "2.bias"]
    assert ours[1].out_features == 12 and ours.pop().__class__.__name__ == "ReLU" and len(ours) == 3
    with pytest.raises(IndexError, match="out of range"):
        ours.insert(5, nn.ReLU())
    with pytest.raises(TypeError, match="holds Modules, got int"):
        ours.insert(0, 3)
    with pytest.raises(IndexError, match="out of range"):
        del ours[3]


def test_deleting_from_a_named_sequential_renumbers_it_as_torch_does():
    names = OrderedDict([("conv", nn.Conv2d(1, 2, 3)), ("relu", nn.ReLU()), ("fc", nn.Linear(2, 2))])
    model = nn.Sequential(names)
    reference = torch.nn.Sequential(OrderedDict([("conv", torch.nn.Conv2d(1, 2, 3)), ("relu", torch.nn.ReLU()),
                                                 ("fc", torch.nn.Linear(2, 2))]))
    del model[1]
    del reference[1]
    assert list(model.state_dict()) == list(reference.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert not hasattr(model, "conv") and isinstance(model[1], nn.Linear)
    x = np.ones((1, 1, 3, 3), np.float32)
    model2 = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten())
    model2.append(model.pop(1))
    assert model2(x).shape == (1, 2)


def test_get_submodule_follows_a_dotted_path_and_names_what_is_missing():
    model = nn.Sequential(OrderedDict([("features", nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())),
                                       ("head", nn.Linear(2, 2))]))
    assert model.get_submodule("features.0") is model.features[0]
    assert model.get_submodule("") is model and model.get_submodule("head") is model.head
    with pytest.raises(AttributeError, match=r"Sequential \(features\) has no submodule '2'; its children are 0, 1"):
        model.get_submodule("features.2.weight")
    with pytest.raises(AttributeError, match=r"the model\) has no submodule 'body'"):
        model.get_submodule("body")


def test_insert_takes_a_negative_index_like_list_insert():
    model = nn.Sequential(nn.ReLU(), nn.Tanh())
    model.insert(-1, nn.Sigmoid())
    assert [type(m).__name__ for m in model] == ["ReLU", "Sigmoid", "Tanh"]
    model.insert(-3, nn.Identity())
    assert type(model[0]).__name__ == "Identity" and list(model._modules) == ["0", "1", "2", "3"]
