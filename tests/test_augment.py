"""data/augment.py: each augmentation does what its docstring says, is seeded, and mixes losses like soft targets."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from scratchnet import nn
from scratchnet.data import augment
from scratchnet.train import TrainConfig
from scratchnet.train.losses import mixed_loss


def images(n=16, c=1, h=12, w=12, seed=0):
    return np.random.default_rng(seed).integers(1, 256, size=(n, c, h, w), dtype=np.uint8)


class Highest:
    """A generator stand-in whose uniform draws are always the top of the range."""

    def uniform(self, low, high, size):
        return np.full(size, float(high))


def test_affine_with_nothing_to_do_is_the_identity():
    x = images()
    out = augment.RandomAffine(degrees=0, translate=0, scale=(1, 1), shear=0)(x, np.random.default_rng(0))
    np.testing.assert_array_equal(out, x)


@pytest.mark.parametrize("c, h", [(1, 12), (3, 9)])
def test_affine_rotation_by_90_degrees_is_rot90(c, h):
    x = images(n=4, c=c, h=h, w=h)
    out = augment.RandomAffine(degrees=90, translate=0, scale=(1, 1), shear=0)(x, Highest())
    np.testing.assert_array_equal(out, np.rot90(x, k=-1, axes=(2, 3)))


def test_affine_whole_pixel_shift_moves_the_image_and_fills_with_zero():
    x = images(n=3, h=10, w=10)
    out = augment.RandomAffine(degrees=0, translate=0.2, scale=(1, 1), shear=0)(x, Highest())  # 2 px right, 2 down
    np.testing.assert_array_equal(out[:, :, 2:, 2:], x[:, :, :-2, :-2])
    assert not out[:, :, :2, :].any() and not out[:, :, :, :2].any()


def test_affine_zoom_by_two_samples_between_pixels_bilinearly():
    x = np.zeros((1, 1, 5, 5), np.uint8)
    x[0, 0, 2, 2], x[0, 0, 2, 3] = 100, 200
    out = augment.RandomAffine(degrees=0, translate=0, scale=(2, 2), shear=0)(x, Highest())
    # Output column 3 of row 2 samples the input at x = 2.5: halfway between 100 and 200.
    assert out[0, 0, 2, 2] == 100 and out[0, 0, 2, 3] == 150 and out[0, 0, 2, 4] == 200


def test_affine_draws_a_transform_per_image_from_the_seed():
    x = np.repeat(images(n=1), 8, axis=0)
    step = augment.RandomAffine(degrees=15, translate=0.1, scale=(0.9, 1.1), shear=10)
    out = step(x, np.random.default_rng(5))
    assert out.shape == x.shape and out.dtype == np.uint8
    assert len({o.tobytes() for o in out}) == 8  # every image its own transform
    np.testing.assert_array_equal(out, step(x, np.random.default_rng(5)))
    assert not np.array_equal(out, step(x, np.random.default_rng(6)))


def test_erasing_blanks_one_rectangle_of_the_drawn_size_per_image():
    x = np.full((64, 3, 16, 16), 255, np.uint8)
    out = augment.RandomErasing(p=1.0, scale=(0.1, 0.2))(x, np.random.default_rng(0))
    for image in out:
        erased = np.argwhere((image == 0).all(axis=0))
        assert (image == 0).any(axis=0).sum() == len(erased)  # all channels erased together
        (top, left), (bottom, right) = erased.min(axis=0), erased.max(axis=0)
        assert len(erased) == (bottom - top + 1) * (right - left + 1)  # a filled rectangle
        assert 0.05 * 256 <= len(erased) <= 0.3 * 256  # the drawn area, up to rounding and clipping
    np.testing.assert_array_equal(augment.RandomErasing(p=0.0)(x, np.random.default_rng(0)), x)


def test_mixup_mixes_each_image_with_its_partner():
    x = images(n=10).astype(np.float32)
    mix = augment.MixUp(alpha=0.4)(x, np.random.default_rng(2))
    assert sorted(mix.partner) == list(range(10)) and 0 < mix.lam < 1
    np.testing.assert_allclose(mix.x, mix.lam * x + (1 - mix.lam) * x[mix.partner], rtol=1e-6)


def test_cutmix_pastes_one_box_and_weighs_the_labels_by_its_area():
    x = images(n=10, c=3, h=16, w=16).astype(np.float32)
    mix = augment.CutMix(alpha=1.0)(x, np.random.default_rng(3))
    from_partner = (mix.x != x).any(axis=(0, 1)) & (mix.x == x[mix.partner]).all(axis=(0, 1))
    changed = (mix.x != x).any(axis=(0, 1))
    assert np.array_equal(changed, from_partner)  # every changed pixel comes from the partner
    rows, cols = np.nonzero(changed)
    box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
    assert mix.lam == pytest.approx(1 - box / 256)


def test_mixed_loss_equals_cross_entropy_with_soft_targets_in_torch():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 4)).astype(np.float32)
    y, partner, lam = np.array([0, 1, 2, 3, 0, 1]), np.array([3, 2, 1, 0, 2, 2]), 0.3
    loss, grad = mixed_loss(nn.CrossEntropyLoss(label_smoothing=0.1), logits, y, partner, lam)
    soft = lam * np.eye(4)[y] + (1 - lam) * np.eye(4)[partner]
    t_logits = torch.tensor(logits, requires_grad=True)
    t_loss = torch.nn.CrossEntropyLoss(label_smoothing=0.1)(t_logits, torch.tensor(soft, dtype=torch.float32))
    t_loss.backward()
    assert loss == pytest.approx(t_loss.item(), rel=1e-5)
    np.testing.assert_allclose(grad, t_logits.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_augment_names_parse_in_registry_order_and_bad_ones_say_what_is_allowed():
    assert augment.parse_augment("flip+crop") == ["crop", "flip"]
    assert augment.parse_augment("none") == []
    with pytest.raises(ValueError, match="'zoom' is none of them"):
        augment.parse_augment("crop+zoom")
    with pytest.raises(ValueError, match="twice"):
        augment.parse_augment("crop+crop")
    with pytest.raises(ValueError, match="choose one of mixup and cutmix"):
        augment.parse_augment("mixup+cutmix")


def test_build_augment_reads_the_config_settings():
    config = TrainConfig(augment="affine+erase+cutmix+crop", crop_padding=3, affine_degrees=5, erase_prob=0.25,
                         mix_alpha=0.5)
    images_step, mix = augment.build_augment(config.augment, config)
    crop, affine, erase = images_step.steps
    assert (crop.padding, affine.degrees, affine.scale, erase.p) == (3, 5, (0.9, 1.1), 0.25)
    assert isinstance(mix, augment.CutMix) and mix.alpha == 0.5
    assert augment.build_augment("none", config) == (None, None)


def test_blur_is_a_separable_gaussian_of_each_images_own_width():
    from scipy.ndimage import gaussian_filter1d

    x = images(n=6, c=2, h=16, w=16)
    blur = augment.RandomGaussianBlur(p=1.0, sigma=(0.5, 2.0))
    out = blur(x, np.random.default_rng(3))
    draws = np.random.default_rng(3)
    draws.random(len(x))  # who is blurred (everyone, p = 1)
    sigmas = draws.uniform(0.5, 2.0, len(x))
    assert len(set(np.round(sigmas, 3))) == len(x)  # one width per image
    for image, blurred, sigma in zip(x.astype(np.float64), out, sigmas):
        # numpy's "reflect" border (d c b | a b c d) is scipy's "mirror"; radius ⌈3 σ_max⌉ = 6
        expected = gaussian_filter1d(gaussian_filter1d(image, sigma, axis=2, mode="mirror", radius=6),
                                     sigma, axis=1, mode="mirror", radius=6)
        assert np.abs(blurred - expected).max() <= 1  # rounding to whole gray levels
    assert out.dtype == np.uint8 and out.shape == x.shape


def test_blur_keeps_flat_images_and_spares_the_images_not_drawn():
    flat = np.full((4, 1, 10, 10), 77, np.uint8)
    np.testing.assert_array_equal(augment.RandomGaussianBlur(p=1.0)(flat, np.random.default_rng(0)), flat)
    x = images(n=200, h=10, w=10)
    out = augment.RandomGaussianBlur(p=0.3, sigma=(1.0, 1.5))(x, np.random.default_rng(0))
    changed = (out != x).any(axis=(1, 2, 3))
    assert 0.2 < changed.mean() < 0.4  # about p of them
    np.testing.assert_array_equal(out[~changed], x[~changed])
    assert out[changed].std() < x[changed].std()  # blurring smooths random pixels
    np.testing.assert_array_equal(augment.RandomGaussianBlur(p=0.0)(x, np.random.default_rng(0)), x)


def test_blur_settings_come_from_the_config_and_are_checked():
    config = TrainConfig(augment="affine+blur", blur_prob=0.25, blur_sigma=2.5)
    affine, blur = augment.build_augment(config.augment, config)[0].steps
    assert isinstance(blur, augment.RandomGaussianBlur) and (blur.p, blur.sigma) == (0.25, (0.1, 2.5))
    with pytest.raises(ValueError, match="blur_sigma"):
        TrainConfig(augment="blur", blur_sigma=0).validate()
    with pytest.raises(ValueError, match="blur_prob"):
        TrainConfig(augment="blur", blur_prob=1.5).validate()
    with pytest.raises(ValueError, match="blur sigma"):
        augment.RandomGaussianBlur(sigma=(2.0, 1.0))
