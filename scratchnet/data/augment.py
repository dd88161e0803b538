"""Data augmentation, vectorised over a batch and seeded: every random draw comes from the ``rng`` passed in.

Image augmentations take uint8 images (B, C, H, W) and return new uint8 images of the same
shape (``Batches`` applies them before preprocessing, so only one batch is ever float32):

- ``RandomCrop(padding)``: zero-pad, cut a random H×W window (a shift of up to ±padding);
- ``RandomHorizontalFlip(p)``: mirror left-right with probability p;
- ``RandomAffine(degrees, translate, scale, shear)``: rotate, scale, shear and shift each image
  about its centre, with bilinear interpolation (the digits' augmentation);
- ``RandomErasing(p, scale, ratio)``: blank a random rectangle (cutout / random erasing);
- ``RandomGaussianBlur(p, sigma)``: blur with a Gaussian of random width (low-resolution, out of
  focus or thick-penned images: photos of small handwriting).

Batch mixes take the float32 batch and return a ``Mix``: the mixed images, the partner of each
image and the weight λ of the image's own label. The training loss is then
λ · loss(outputs, y) + (1 − λ) · loss(outputs, y[partner]), which for cross-entropy equals the
loss against the soft targets λ · onehot(y) + (1 − λ) · onehot(y[partner]):

- ``MixUp(alpha)``: x ← λ x + (1 − λ) x[partner], λ ~ Beta(α, α) (Zhang et al. 2018);
- ``CutMix(alpha)``: paste a box of area (1 − λ)·H·W from x[partner] (Yun et al. 2019); λ is then
  recomputed from the box actually pasted after clipping to the image.

``AUGMENTATIONS`` is the registry of the names ``TrainConfig.augment`` joins with "+"
(``"crop+flip+erase"``); ``parse_augment`` checks such a string and ``build_augment`` turns it
into a ``Compose`` and an optional batch mix, reading the settings from any object with
TrainConfig's attribute names.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np


class RandomCrop:
    """Pad every side by ``padding`` zero pixels and cut a random H×W window (offsets uniform in 0…2·padding)."""

    def __init__(self, padding: int = 4):
        if not isinstance(padding, (int, np.integer)) or padding < 0:
            raise ValueError(f"crop_padding must be an integer >= 0, got {padding!r}")
        self.padding = int(padding)

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        b, _, h, w = x.shape
        p = self.padding
        padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        windows = np.lib.stride_tricks.sliding_window_view(padded, (h, w), axis=(2, 3))  # (B, C, 2p+1, 2p+1, H, W)
        top = rng.integers(0, 2 * p + 1, size=b)
        left = rng.integers(0, 2 * p + 1, size=b)
        return windows[np.arange(b), :, top, left]  # one gather: (B, C, H, W)

    def __repr__(self) -> str:
        return f"RandomCrop(padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror each image left-right with probability ``p``."""

    def __init__(self, p: float = 0.5):
        _check_probability("flip probability", p)
        self.p = p

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        flip = rng.random(len(x)) < self.p
        out = x.copy()
        out[flip] = x[flip, :, :, ::-1]
        return out

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class RandomAffine:
    """Rotate by θ ~ U(±degrees), shear along x by φ ~ U(±shear) degrees, scale by s ~ U(scale),
    shift by (tx, ty) ~ U(±translate)·(W, H), all about the image centre c, per image.

    An output pixel p takes the input at c + A⁻¹ (p − c − t), A = s · R(θ) · [[1, tan φ], [0, 1]],
    interpolated bilinearly between the four nearest pixels; outside the image the input is
    ``fill``. One (B, H·W) coordinate computation and four gathers per batch.
    """

    def __init__(self, degrees: float = 10.0, translate: float = 0.1, scale: tuple[float, float] = (0.9, 1.1),
                 shear: float = 10.0, fill: int = 0):
        for name, value in (("affine degrees", degrees), ("affine shear", shear), ("affine translate", translate)):
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        if shear >= 90:
            raise ValueError(f"affine shear must be below 90 degrees, got {shear}")
        if len(scale) != 2 or not 0 < scale[0] <= scale[1]:
            raise ValueError(f"affine scale must be a range (low, high) with 0 < low <= high, got {scale!r}")
        self.degrees, self.translate, self.scale, self.shear, self.fill = degrees, translate, tuple(scale), shear, fill

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        b, c, h, w = x.shape
        theta = np.deg2rad(rng.uniform(-self.degrees, self.degrees, b))
        phi = np.deg2rad(rng.uniform(-self.shear, self.shear, b))
        s = rng.uniform(*self.scale, b)
        tx = rng.uniform(-self.translate, self.translate, b) * w
        ty = rng.uniform(-self.translate, self.translate, b) * h
        cos, sin, tan = np.cos(theta), np.sin(theta), np.tan(phi)
        # A = s · [[cos, -sin], [sin, cos]] · [[1, tan], [0, 1]] and its inverse, per image.
        a00, a01, a10, a11 = s * cos, s * (cos * tan - sin), s * sin, s * (sin * tan + cos)
        det = a00 * a11 - a01 * a10
        i00, i01, i10, i11 = a11 / det, -a01 / det, -a10 / det, a00 / det
        ys, xs = np.divmod(np.arange(h * w), w)
        cy, cx = (h - 1) / 2, (w - 1) / 2
        dx = xs[None, :] - cx - tx[:, None]
        dy = ys[None, :] - cy - ty[:, None]
        src_x = i00[:, None] * dx + i01[:, None] * dy + cx  # (B, H·W)
        src_y = i10[:, None] * dx + i11[:, None] * dy + cy
        return _bilinear(x, src_y.astype(np.float32), src_x.astype(np.float32), self.fill)

    def __repr__(self) -> str:
        return (f"RandomAffine(degrees={self.degrees}, translate={self.translate}, scale={self.scale}, "
                f"shear={self.shear})")


def _bilinear(x: np.ndarray, src_y: np.ndarray, src_x: np.ndarray, fill: int) -> np.ndarray:
    """Sample uint8 images (B, C, H, W) at float coordinates (B, H·W), ``fill`` outside; uint8 (B, C, H, W).

    The images are padded by one pixel of ``fill`` and coordinates clamped into the padding,
    so a sample outside the image blends towards ``fill`` exactly as at a border.
    """
    b, c, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=fill).reshape(b, c, -1).astype(np.float32)
    px = np.clip(src_x + 1, 0, w + 1)
    py = np.clip(src_y + 1, 0, h + 1)
    x0 = np.minimum(np.floor(px), w).astype(np.intp)
    y0 = np.minimum(np.floor(py), h).astype(np.intp)
    fx = (px - x0)[:, None, :]
    fy = (py - y0)[:, None, :]

    def at(yy, xx):
        return np.take_along_axis(padded, (yy * (w + 2) + xx)[:, None, :], axis=2)  # (B, C, H·W)

    top = at(y0, x0) * (1 - fx) + at(y0, x0 + 1) * fx
    bottom = at(y0 + 1, x0) * (1 - fx) + at(y0 + 1, x0 + 1) * fx
    out = top * (1 - fy) + bottom * fy
    return np.clip(np.rint(out), 0, 255).astype(x.dtype).reshape(b, c, h, w)


class RandomErasing:
    """With probability ``p`` per image, set a random rectangle to ``fill`` (random erasing, Zhong et
    al. 2020; cutout when it always applies). Its area is a fraction ~ U(scale) of the image and its
    aspect ratio h/w log-uniform in ``ratio``; sides are rounded and clipped to the image."""

    def __init__(self, p: float = 0.5, scale: tuple[float, float] = (0.02, 0.25),
                 ratio: tuple[float, float] = (0.3, 3.3), fill: int = 0):
        _check_probability("erase probability", p)
        if len(scale) != 2 or not 0 < scale[0] <= scale[1] <= 1:
            raise ValueError(f"erase scale must be (low, high) with 0 < low <= high <= 1, got {scale!r}")
        if len(ratio) != 2 or not 0 < ratio[0] <= ratio[1]:
            raise ValueError(f"erase ratio must be (low, high) with 0 < low <= high, got {ratio!r}")
        self.p, self.scale, self.ratio, self.fill = p, tuple(scale), tuple(ratio), fill

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        b, _, h, w = x.shape
        apply = rng.random(b) < self.p
        area = rng.uniform(*self.scale, b) * h * w
        aspect = np.exp(rng.uniform(math.log(self.ratio[0]), math.log(self.ratio[1]), b))
        eh = np.clip(np.rint(np.sqrt(area * aspect)), 1, h).astype(np.intp)
        ew = np.clip(np.rint(np.sqrt(area / aspect)), 1, w).astype(np.intp)
        top = (rng.random(b) * (h - eh + 1)).astype(np.intp)
        left = (rng.random(b) * (w - ew + 1)).astype(np.intp)
        mask = _box_mask(h, w, top, left, eh, ew) & apply[:, None, None]
        return np.where(mask[:, None], np.asarray(self.fill, dtype=x.dtype), x)

    def __repr__(self) -> str:
        return f"RandomErasing(p={self.p}, scale={self.scale}, ratio={self.ratio})"


class RandomGaussianBlur:
    """With probability ``p`` per image, blur it with a Gaussian of standard deviation σ ~ U(sigma) pixels.

    The blur is separable: each row, then each column, is convolved with the image's own kernel
    k[i] ∝ exp(−i² / 2σ²), i = −r…r with r = ⌈3 σ_max⌉, normalised to sum 1, over a reflected
    border (as ``torchvision.transforms.GaussianBlur``, which draws one σ per call, not per image).
    One (B', C, H, W, 2r+1) window view and one weighted sum per direction for the B' blurred images.
    """

    def __init__(self, p: float = 0.5, sigma: tuple[float, float] = (0.1, 1.5)):
        _check_probability("blur probability", p)
        if len(sigma) != 2 or not 0 < sigma[0] <= sigma[1]:
            raise ValueError(f"blur sigma must be (low, high) with 0 < low <= high, got {sigma!r}")
        self.p, self.sigma = p, tuple(sigma)

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        b, _, h, w = x.shape
        chosen = np.flatnonzero(rng.random(b) < self.p)
        sigma = rng.uniform(*self.sigma, len(chosen))
        radius = min(math.ceil(3 * self.sigma[1]), h - 1, w - 1)  # reflection needs r < the side
        offsets = np.arange(-radius, radius + 1)
        kernels = np.exp(-offsets ** 2 / (2 * sigma[:, None] ** 2)).astype(np.float32)  # (B', 2r+1)
        kernels /= kernels.sum(axis=1, keepdims=True)
        images = x[chosen].astype(np.float32)
        for axis in (3, 2):  # rows, then columns
            pad = [(0, 0)] * 4
            pad[axis] = (radius, radius)
            windows = np.lib.stride_tricks.sliding_window_view(np.pad(images, pad, mode="reflect"), 2 * radius + 1,
                                                              axis=axis)  # (B', C, H, W, 2r+1)
            images = np.einsum("bchwk,bk->bchw", windows, kernels)
        out = x.copy()
        out[chosen] = np.clip(np.rint(images), 0, 255).astype(x.dtype)
        return out

    def __repr__(self) -> str:
        return f"RandomGaussianBlur(p={self.p}, sigma={self.sigma})"


def _box_mask(h: int, w: int, top: np.ndarray, left: np.ndarray, bh: np.ndarray, bw: np.ndarray) -> np.ndarray:
    """(B, H, W) booleans: True inside each image's box rows top…top+bh−1, columns left…left+bw−1."""
    rows, cols = np.arange(h), np.arange(w)
    in_rows = (rows >= top[:, None]) & (rows < (top + bh)[:, None])
    in_cols = (cols >= left[:, None]) & (cols < (left + bw)[:, None])
    return in_rows[:, :, None] & in_cols[:, None, :]


class Compose:
    """Apply image augmentations in turn, each drawing from the same generator."""

    def __init__(self, steps: list):
        self.steps = list(steps)

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        for step in self.steps:
            x = step(x, rng)
        return x

    def __repr__(self) -> str:
        return f"Compose([{', '.join(map(repr, self.steps))}])"


class Augment(Compose):
    """Random crop with zero padding and random horizontal flip: the usual CIFAR-10 augmentation."""

    def __init__(self, crop_padding: int = 4, hflip: bool = True):
        if crop_padding < 0:
            raise ValueError(f"crop_padding must be >= 0, got {crop_padding}")
        self.crop_padding, self.hflip = crop_padding, hflip
        super().__init__([RandomCrop(crop_padding), *([RandomHorizontalFlip()] if hflip else [])])

    def __repr__(self) -> str:
        return f"Augment(crop_padding={self.crop_padding}, hflip={self.hflip})"


# -- batch mixes ------------------------------------------------------------------------------------------------
@dataclass
class Mix:
    """A mixed batch: images ``x``; each image's label weighs ``lam``, its partner's label (at
    position ``partner`` of the batch) weighs 1 − lam."""

    x: np.ndarray
    partner: np.ndarray
    lam: float


class MixUp:
    """x ← λ x + (1 − λ) x[partner] with one λ ~ Beta(α, α) per batch and a random pairing."""

    def __init__(self, alpha: float = 1.0):
        _check_alpha(alpha)
        self.alpha = alpha

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> Mix:
        lam = float(rng.beta(self.alpha, self.alpha))
        partner = rng.permutation(len(x))
        return Mix((lam * x + (1 - lam) * x[partner]).astype(x.dtype, copy=False), partner, lam)

    def __repr__(self) -> str:
        return f"MixUp(alpha={self.alpha})"


class CutMix:
    """Paste one box of x[partner] into every image: λ ~ Beta(α, α), box sides √(1 − λ)·(H, W)
    centred uniformly at random and clipped; λ becomes 1 − (box area)/(H·W)."""

    def __init__(self, alpha: float = 1.0):
        _check_alpha(alpha)
        self.alpha = alpha

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> Mix:
        b, _, h, w = x.shape
        lam = float(rng.beta(self.alpha, self.alpha))
        partner = rng.permutation(b)
        cut = math.sqrt(1.0 - lam)
        bh, bw = int(h * cut), int(w * cut)
        cy, cx = int(rng.integers(h)), int(rng.integers(w))
        y1, y2 = max(cy - bh // 2, 0), min(cy + bh // 2, h)
        x1, x2 = max(cx - bw // 2, 0), min(cx + bw // 2, w)
        out = x.copy()
        out[:, :, y1:y2, x1:x2] = x[partner, :, y1:y2, x1:x2]
        return Mix(out, partner, 1.0 - (y2 - y1) * (x2 - x1) / (h * w))

    def __repr__(self) -> str:
        return f"CutMix(alpha={self.alpha})"


def _check_probability(name: str, p) -> None:
    if not isinstance(p, (int, float)) or not 0 <= p <= 1:
        raise ValueError(f"{name} must be a number in [0, 1], got {p!r}")


def _check_alpha(alpha) -> None:
    if not isinstance(alpha, (int, float)) or not alpha > 0:
        raise ValueError(f"mix_alpha (the Beta distribution's alpha) must be a number > 0, got {alpha!r}")


# -- the registry of augmentation names --------------------------------------------------------------------------
@dataclass(frozen=True)
class AugmentEntry:
    """``make(settings)``: the augmentation, reading TrainConfig's attribute names from ``settings``;
    ``mix``: a batch mix (applied to float batches in the training loop) rather than an image
    augmentation; ``flips``: mirrors images (wrong for digits); ``help``: one line for --help."""

    make: Callable
    mix: bool
    flips: bool
    help: str


AUGMENTATIONS: dict[str, AugmentEntry] = {
    "crop": AugmentEntry(lambda c: RandomCrop(c.crop_padding), False, False,
                         "random shifts by up to --crop-padding pixels"),
    "flip": AugmentEntry(lambda c: RandomHorizontalFlip(), False, True, "horizontal flips"),
    "affine": AugmentEntry(lambda c: RandomAffine(c.affine_degrees, c.affine_translate,
                                                  (1 - c.affine_scale, 1 + c.affine_scale), c.affine_shear),
                           False, False, "random rotation, scale, shear and shift (--affine-*)"),
    "erase": AugmentEntry(lambda c: RandomErasing(c.erase_prob), False, False,
                          "random erasing of a rectangle (--erase-prob)"),
    "blur": AugmentEntry(lambda c: RandomGaussianBlur(c.blur_prob, (0.1, c.blur_sigma)), False, False,
                         "Gaussian blur of random width up to --blur-sigma pixels (--blur-prob)"),
    "mixup": AugmentEntry(lambda c: MixUp(c.mix_alpha), True, False, "mixup of image pairs (--mix-alpha)"),
    "cutmix": AugmentEntry(lambda c: CutMix(c.mix_alpha), True, False, "cutmix of image pairs (--mix-alpha)"),
}
NO_AUGMENTATION = "none"


def parse_augment(text: str) -> list[str]:
    """The names in ``text`` ("none", or names of AUGMENTATIONS joined by "+"), in registry order.

    Raises ValueError naming an unknown or repeated name, or two batch mixes.
    """
    if text == NO_AUGMENTATION:
        return []
    names = text.split("+")
    unknown = [name for name in names if name not in AUGMENTATIONS]
    if unknown or not names:
        raise ValueError(f"augment must be 'none' or names joined by '+' from {', '.join(AUGMENTATIONS)} "
                         f"(e.g. 'crop+flip'); got {text!r}" + (f", and {unknown[0]!r} is none of them" if unknown else ""))
    if len(set(names)) != len(names):
        raise ValueError(f"augment names an augmentation twice: {text!r}")
    mixes = [name for name in names if AUGMENTATIONS[name].mix]
    if len(mixes) > 1:
        raise ValueError(f"augment can mix batches one way only; choose one of {' and '.join(mixes)}")
    return [name for name in AUGMENTATIONS if name in names]


def build_augment(text: str, settings) -> tuple[Compose | None, MixUp | CutMix | None]:
    """The image augmentations (None if there are none) and the batch mix (or None) that ``text`` names."""
    names = parse_augment(text)
    steps = [AUGMENTATIONS[name].make(settings) for name in names if not AUGMENTATIONS[name].mix]
    mixes = [AUGMENTATIONS[name].make(settings) for name in names if AUGMENTATIONS[name].mix]
    return (Compose(steps) if steps else None), (mixes[0] if mixes else None)
