"""Conv2d's dilation, groups (depthwise too), padding="same"/"valid", padding_mode and unbatched input:
finite differences, PyTorch parity and errors that name the problem."""
import numpy as np
import pytest
import torch
from gradcheck import check_module_grads
from parity import assert_close, assert_same_step_from_state, case_id, randn

from scratchnet import nn

# (constructor args, kwargs, input shape): both im2col layouts (C <= 4 and C > 4) for each argument
CASES = [
    ((2, 3, 3), dict(dilation=2), (2, 2, 7, 8)),
    ((6, 4, (2, 3)), dict(dilation=(2, 1), stride=(1, 2), padding=1), (2, 6, 7, 8)),
    ((4, 6, 3), dict(groups=2), (2, 4, 5, 6)),
    ((6, 9, 3), dict(groups=3, stride=2, padding=1), (2, 6, 7, 6)),
    ((4, 4, 3), dict(groups=4, padding=1), (2, 4, 5, 5)),                       # depthwise, few channels
    ((8, 16, 3), dict(groups=8, padding=1, bias=False), (2, 8, 5, 6)),          # depthwise, multiplier 2
    ((8, 8, (3, 2)), dict(groups=8, stride=2, dilation=(2, 1), padding=2), (2, 8, 9, 7)),  # depthwise, strided
    ((12, 4, 3), dict(groups=2, padding=1), (2, 12, 5, 5)),                     # 6 channels per group
    ((3, 2, 3), dict(padding="same"), (2, 3, 5, 6)),
    ((6, 2, (4, 2)), dict(padding="same", dilation=(1, 3)), (2, 6, 6, 7)),      # even extent: asymmetric
    ((6, 2, 3), dict(padding="valid", dilation=2, groups=2), (2, 6, 7, 7)),
    ((3, 2, 3), dict(padding=2, padding_mode="reflect"), (2, 3, 5, 6)),           # few channels
    ((6, 4, 3), dict(padding=(1, 3), padding_mode="reflect", stride=2), (2, 6, 6, 5)),  # many, wider than high
    ((3, 2, (4, 3)), dict(padding="same", padding_mode="replicate"), (2, 3, 5, 6)),  # asymmetric "same"
    ((6, 6, 3), dict(padding=4, padding_mode="replicate", groups=6), (2, 6, 3, 4)),  # depthwise, border > image
    ((2, 3, 3), dict(padding=(2, 1), padding_mode="circular"), (2, 2, 4, 5)),
    ((8, 4, 3), dict(padding=3, padding_mode="circular", dilation=2), (1, 8, 3, 5)),  # border = image height
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_gradients_match_finite_differences(case):
    args, kwargs, shape = case
    check_module_grads(nn.Conv2d(*args, **kwargs, generator=np.random.default_rng(1)), randn(shape, 0))


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel lengths")
@pytest.mark.parametrize("case", CASES + [
    ((32, 32, 3), dict(groups=32, padding=1), (6, 32, 12, 12)),                 # several sample blocks
    ((16, 32, 3), dict(groups=4, stride=2, padding="valid"), (3, 16, 9, 9)),
], ids=case_id)
def test_matches_torch(case):
    args, kwargs, shape = case
    assert_same_step_from_state(nn.Conv2d(*args, **kwargs), torch.nn.Conv2d(*args, **kwargs), randn(shape, 0))


@pytest.mark.parametrize("channels, groups", [(3, 1), (8, 1), (8, 8)])
def test_unbatched_input(channels, groups):
    ours = nn.Conv2d(channels, 8, 3, padding=1, groups=groups)
    theirs = torch.nn.Conv2d(channels, 8, 3, padding=1, groups=groups)
    assert_same_step_from_state(ours, theirs, randn((channels, 5, 6), 0))
    check_module_grads(nn.Conv2d(channels, channels, 3, groups=groups), randn((channels, 4, 5), 1))
    with pytest.raises(ValueError, match=r"expected grad_output of shape \(8, 5, 6\), got \(1, 8, 5, 6\)"):
        ours(randn((channels, 5, 6), 0))
        ours.backward(randn((1, 8, 5, 6), 0))


def test_same_padding_keeps_the_size_and_valid_pads_nothing():
    x = randn((1, 6, 9, 10), 0)
    assert nn.Conv2d(6, 2, 4, padding="same", dilation=2)(x).shape == (1, 2, 9, 10)
    assert nn.Conv2d(6, 2, 4, padding="valid")(x).shape == (1, 2, 6, 7)


def test_depthwise_matches_a_per_channel_convolution():
    conv = nn.Conv2d(5, 5, 3, groups=5, padding=1)
    x = randn((2, 5, 6, 6), 0)
    y = conv(x)
    for c in range(5):
        single = nn.Conv2d(1, 1, 3, padding=1)
        single.weight.data[:] = conv.weight.data[c:c + 1]
        single.bias.data[:] = conv.bias.data[c:c + 1]
        assert_close(y[:, c:c + 1], single(x[:, c:c + 1]), f"channel {c}")


def test_weight_shape_init_and_repr_follow_torch():
    conv = nn.Conv2d(8, 4, 3, groups=2, dilation=2, padding="same", generator=np.random.default_rng(0))
    assert conv.weight.shape == (4, 4, 3, 3)
    assert np.abs(conv.weight.data).max() <= 1 / np.sqrt(4 * 9)  # fan_in = in_channels / groups · kh · kw
    assert repr(conv) == ("Conv2d(8, 4, kernel_size=(3, 3), stride=(1, 1), padding='same', dilation=(2, 2), "
                          "groups=2)")


@pytest.mark.parametrize("kwargs, match", [
    (dict(in_channels=6, out_channels=4, kernel_size=3, groups=4),
     r"groups=4 must be a positive int dividing both in_channels=6 and out_channels=4"),
    (dict(in_channels=6, out_channels=4, kernel_size=3, groups=0), "groups=0"),
    (dict(in_channels=2, out_channels=2, kernel_size=3, dilation=0), "dilation"),
    (dict(in_channels=2, out_channels=2, kernel_size=3, padding="full"), "padding must be 'same', 'valid'"),
    (dict(in_channels=2, out_channels=2, kernel_size=3, padding="same", stride=2), "padding='same' needs stride 1"),
    (dict(in_channels=2, out_channels=2, kernel_size=3, padding_mode="mirror"),
     "padding_mode must be one of zeros, reflect, replicate, circular, got 'mirror'"),
])
def test_bad_arguments_name_the_problem(kwargs, match):
    with pytest.raises(ValueError, match=match):
        nn.Conv2d(**kwargs)


def test_dilated_kernel_larger_than_input_names_both_sizes():
    with pytest.raises(ValueError, match=r"input of shape \(1, 2, 4, 9\) is 4x9 after padding, smaller than the "
                                         r"3x3 kernel \(dilated to 5x5\)"):
        nn.Conv2d(2, 2, 3, dilation=2)(randn((1, 2, 4, 9), 0))


@pytest.mark.parametrize("mode, padding", [("reflect", 3), ("circular", 4)])
def test_a_border_wider_than_the_mode_allows_says_so(mode, padding):
    conv = nn.Conv2d(2, 2, 3, padding=padding, padding_mode=mode)
    with pytest.raises(ValueError, match=rf"padding {padding} is too wide for padding_mode='{mode}' on an input of "
                                         r"height 3; use less padding or padding_mode='replicate'"):
        conv(randn((1, 2, 3, 8), 0))
    with pytest.raises(RuntimeError):  # torch refuses it too
        torch.nn.Conv2d(2, 2, 3, padding=padding, padding_mode=mode)(torch.from_numpy(randn((1, 2, 3, 8), 0)))


def test_padding_mode_in_repr_and_spec_round_trip():
    from scratchnet import spec
    conv = nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect")
    assert repr(conv).endswith("padding_mode=reflect)")
    assert repr(conv) == repr(torch.nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect")).replace(", bias=True", "")
    rebuilt = spec.build_model(spec.spec_of(nn.Sequential(conv)), (3, 8, 8))
    assert rebuilt[0].padding_mode == "reflect"
