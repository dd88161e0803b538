"""Upsample (nearest and bilinear), ZeroPad2d and Unflatten: finite differences, PyTorch parity, errors."""
import numpy as np
import pytest
import torch
from gradcheck import check_module_grads
from parity import assert_same_step, assert_same_step_from_state, randn

from scratchnet import nn

LAYERS = [
    (lambda lib: lib.Upsample(scale_factor=2), (2, 3, 4, 5)),
    (lambda lib: lib.Upsample(scale_factor=(3, 1.5)), (2, 2, 3, 4)),
    (lambda lib: lib.Upsample(size=(7, 3)), (2, 2, 4, 5)),       # up in height, down in width
    (lambda lib: lib.Upsample(size=5, mode="nearest"), (1, 2, 3, 3)),
    (lambda lib: lib.Upsample(scale_factor=0.5), (1, 2, 6, 7)),  # some rows are copied by no output
    (lambda lib: lib.Upsample(scale_factor=2, mode="bilinear"), (2, 3, 4, 5)),
    (lambda lib: lib.Upsample(scale_factor=2, mode="bilinear", align_corners=True), (2, 3, 4, 5)),
    (lambda lib: lib.Upsample(scale_factor=(1.7, 0.6), mode="bilinear"), (1, 2, 5, 6)),  # up and down
    (lambda lib: lib.Upsample(size=(7, 1), mode="bilinear"), (2, 2, 4, 5)),   # one output column
    (lambda lib: lib.Upsample(size=(1, 9), mode="bilinear", align_corners=True), (1, 2, 4, 5)),
    (lambda lib: lib.Upsample(size=(4, 3), mode="bilinear", align_corners=False), (1, 1, 4, 5)),  # a copied axis
    (lambda lib: lib.ZeroPad2d(2), (2, 3, 4, 5)),
    (lambda lib: lib.ZeroPad2d((1, 0, 3, 2)), (3, 4, 5)),
    (lambda lib: lib.Unflatten(1, (3, 2, 2)), (4, 12)),
    (lambda lib: lib.Unflatten(-1, (2, -1)), (2, 3, 8)),
]


def layer_id(value):
    return repr(value(nn)) if callable(value) else str(value)


@pytest.mark.parametrize("make, shape", LAYERS, ids=layer_id)
def test_gradients_match_finite_differences(make, shape):
    check_module_grads(make(nn), randn(shape, 0))


@pytest.mark.parametrize("make, shape", LAYERS, ids=layer_id)
def test_matches_torch(make, shape):
    assert_same_step(make(nn), make(torch.nn), randn(shape, 0))


def test_upsample_of_channels_last_conv_output_and_values():
    x = np.arange(4, dtype=np.float32).reshape(1, 1, 2, 2)
    np.testing.assert_array_equal(nn.Upsample(scale_factor=2)(x)[0, 0],
                                  [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]])
    y = nn.Conv2d(6, 6, 3)(randn((2, 6, 5, 5), 0))
    assert_same_step(nn.Upsample(scale_factor=2), torch.nn.Upsample(scale_factor=2), y)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="mode must be one of nearest, bilinear, got mode='bicubic'"):
        nn.Upsample(scale_factor=2, mode="bicubic")
    with pytest.raises(ValueError, match="align_corners can only be set with mode='bilinear'"):
        nn.Upsample(scale_factor=2, align_corners=False)
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        nn.Upsample()
    with pytest.raises(ValueError, match="scale_factor must be a positive number or a pair"):
        nn.Upsample(scale_factor=-1)
    with pytest.raises(ValueError, match=r"expected input of shape \(N, C, H, W\), got \(3, 4, 4\)"):
        nn.Upsample(scale_factor=2)(randn((3, 4, 4), 0))
    with pytest.raises(ValueError, match=r"padding must be an int or \(left, right, top, bottom\)"):
        nn.ZeroPad2d((1, 2))
    with pytest.raises(ValueError, match=r"dimension 1 of the input of shape \(2, 10\) has 10 values, which do not "
                                         r"split into \(3, 3\)"):
        nn.Unflatten(1, (3, 3))(randn((2, 10), 0))
    with pytest.raises(ValueError, match="unflattened_size must be a tuple of positive ints"):
        nn.Unflatten(1, (-1, -1))


def test_bilinear_values_by_hand_and_a_unet_style_decoder_step_matches_torch():
    x = np.array([[[[0.0, 1.0], [2.0, 3.0]]]], np.float32)
    corners = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)(x)[0, 0]
    np.testing.assert_allclose(corners[0], [0, 1 / 3, 2 / 3, 1], rtol=1e-6)  # the corners stay where they were
    centred = nn.Upsample(scale_factor=2, mode="bilinear")(x)[0, 0]
    np.testing.assert_allclose(centred[0], [0, 0.25, 0.75, 1], rtol=1e-6)   # s = (j + 0.5) / 2 - 0.5, clamped at 0

    def decoder(lib):
        return lib.Sequential(lib.Conv2d(4, 4, 3, padding=1), lib.Upsample(scale_factor=2, mode="bilinear",
                                                                             align_corners=True),
                              lib.Conv2d(4, 2, 3, padding=1))
    assert_same_step_from_state(decoder(nn), decoder(torch.nn), randn((2, 4, 5, 6), 1))
