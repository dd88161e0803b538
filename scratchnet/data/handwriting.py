"""Prepare a photo or drawing of one digit the way MNIST's digits were made.

MNIST digits are white ink on black, size-normalised so the longer side of the ink's
bounding box is 20 px (aspect ratio kept, anti-aliased), then pasted into 28x28 so
that the ink's centre of mass sits at pixel (14, 14). A network trained on them
sees nothing else, so a photo of dark ink on white paper, off-centre and unevenly
lit, must be brought to that form first (SEEDS.md 004 got 4 of 10 of its own digits
right without this). The steps, all vectorised NumPy on a float image in [0, 1]:

1. grayscale: RGBA is composited onto white, or, when its colour is uniform (a
   drawing exported with a transparent background), the alpha channel is the ink;
2. polarity: the background is light when the border is lighter than the middle of
   the range; the ink is then dark and is inverted to bright on dark;
3. background: divide out (paper) or subtract (dark background) a smooth estimate
   of the background (a quadratic surface fitted robustly to a percentile per block),
   which removes uneven lighting;
4. threshold: average away pixel noise, then Otsu's threshold (raised above the noise
   floor when needed); ink below it becomes 0, ink above keeps its anti-aliased
   intensity, stretched so the strongest ink is 1;
5. crop to the ink's bounding box (ignoring stray specks), scale the longer side to
   20 px (area-averaging);
6. paste into 28x28, shifted so the centre of mass is at (14, 14) (but never so far
   that ink is cut off).
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

SIZE = 28  # side of the image the network sees
BOX = 20  # longer side of the digit's bounding box inside it
CENTRE = 14.0  # where MNIST puts the centre of mass (row, column)
WORK_SIDE = 512  # larger images are reduced to this longer side first: 20 px is the goal
DRAFT_SIDE = 1024  # JPEGs are decoded at the smallest scale keeping this many px per side
MAX_PIXELS = 64_000_000  # bigger images are refused before decoding (a memory bomb guard)
BACKGROUND_BLOCKS = 8  # blocks along the longer side for the background estimate
NOISE_SCALE = 1 / 200  # noise is averaged over ~this fraction of the longer side (2.5 px at 512)
STRAY_INK = 0.002  # this fraction of the ink mass, at each end, may lie outside the bounding box
NOISE_SIGMAS = 5.0  # ink is at least this many noise deviations above the background
MIN_CONTRAST = 0.12  # mean ink must stand this far (in [0, 1]) above the mean background
MAX_INK_FRACTION = 0.6  # more "ink" than this is not a digit on a background


@dataclass(frozen=True)
class DigitSteps:
    """Every intermediate image of ``prepare_digit``, for showing what the network saw.

    ``gray``: the grayscale input in [0, 1] (after any size reduction), (H, W) float32.
    ``inverted``: True when the background was light (dark ink on paper).
    ``background``: the smooth estimate of the background's brightness in ``gray``.
    ``signal``: how much ink each pixel holds once the background is removed and
    pixel noise averaged away, ≥ 0.
    ``threshold``: the ink threshold on ``signal`` (Otsu's, or the noise floor).
    ``cleaned``: the thresholded ink, in [0, 1].
    ``box``: (top, left, bottom, right) of the ink's bounding box in ``cleaned``.
    ``digit``: the 28x28 uint8 result.
    """

    gray: np.ndarray
    inverted: bool
    background: np.ndarray
    signal: np.ndarray
    threshold: float
    cleaned: np.ndarray
    box: tuple[int, int, int, int]
    digit: np.ndarray


def open_image(source: str | Path | bytes, max_pixels: int | None = None) -> Image.Image:
    """Open and fully decode an image file (path or bytes), turned upright as its EXIF
    Orientation tag says (phone photos); ValueError if it is not an image or has more than
    ``max_pixels`` (default MAX_PIXELS) pixels, checked on the header before decoding.

    JPEGs are decoded directly at a reduced scale (1/2 to 1/8, never below DRAFT_SIDE px
    on a side): a 12-megapixel phone photo of a digit needs no more, and decodes in a
    fraction of the time and memory.
    """
    name = "the uploaded data" if isinstance(source, (bytes, bytearray)) else str(source)
    stream = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    image = None
    try:
        image = Image.open(stream)
        image.draft(image.mode, (DRAFT_SIDE, DRAFT_SIDE))
        max_pixels = MAX_PIXELS if max_pixels is None else max_pixels
        if image.width * image.height > max_pixels:
            raise ValueError(f"{name} is {image.width}x{image.height} pixels, over the limit of "
                             f"{max_pixels / 1_000_000:g} megapixels; use a smaller image")
        image.load()
        ImageOps.exif_transpose(image, in_place=True)  # phone photos: pixels as shot, plus a tag saying how to turn them
    except BaseException as err:
        if image is not None:
            image.close()  # the file Pillow opened
        if isinstance(err, FileNotFoundError):
            raise ValueError(f"{name}: no such file") from None
        if isinstance(err, (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError)):
            raise ValueError(f"{name} is not an image Pillow can read (PNG, JPEG, ...): {err}") from None
        if isinstance(err, MemoryError):
            raise ValueError(f"{name} is too large to decode in the memory free on this computer") from None
        raise
    return image


def prepare_digit(image: Image.Image) -> np.ndarray:
    """An image of one digit -> the (28, 28) uint8 MNIST-style image a network should see.

    Raises ValueError for an empty image or one with no ink that stands out.
    """
    return prepare_digit_steps(image).digit


def prepare_digit_steps(image: Image.Image) -> DigitSteps:
    """``prepare_digit`` keeping every intermediate image (see ``DigitSteps``)."""
    gray = to_grayscale(image)
    inverted = border_is_light(gray)
    signal, background = remove_background(gray, inverted)
    signal = smooth_noise(signal)
    cleaned, threshold = threshold_ink(signal)
    box = ink_bounding_box(cleaned)
    top, left, bottom, right = box
    digit = centre_by_mass(scale_to_box(cleaned[top:bottom, left:right]))
    return DigitSteps(gray, inverted, background, signal, threshold, cleaned, box, digit)


def to_grayscale(image: Image.Image) -> np.ndarray:
    """Any Pillow image -> (H, W) float32 luminance in [0, 1], longer side at most WORK_SIDE.

    Transparent pixels become white paper, except when every visible pixel has the same
    colour: then only the alpha channel carries the drawing, and ink = alpha is drawn dark.
    """
    if not isinstance(image, Image.Image):
        raise ValueError(f"prepare_digit takes a PIL.Image.Image, got {type(image).__name__}; open files with open_image(path)")
    if image.width == 0 or image.height == 0:
        raise ValueError(f"the image is empty ({image.width}x{image.height} pixels)")
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        gray = np.asarray(image, dtype=np.float32)
        span = float(gray.max() - gray.min())
        gray = (gray - gray.min()) / span if span > 0 else np.zeros_like(gray)
    elif image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        gray = _composite_on_white(np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0)
    else:
        gray = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    return _reduce(gray.astype(np.float32, copy=False))


def _composite_on_white(rgba: np.ndarray) -> np.ndarray:
    """(H, W, 4) in [0, 1] -> (H, W) luminance of the image laid on white paper.

    When all visible pixels share one colour (a white or black pen on a transparent
    canvas), the colour says nothing and could vanish on white: alpha alone is the ink.
    """
    alpha = rgba[..., 3]
    visible = rgba[alpha > 0, :3]
    if visible.size == 0 or np.ptp(visible) <= 2.0 / 255.0:
        return 1.0 - alpha
    luminance = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return alpha * luminance + (1.0 - alpha)


def _reduce(gray: np.ndarray) -> np.ndarray:
    """Shrink with a box filter so the longer side is at most WORK_SIDE (averaging also cuts noise)."""
    height, width = gray.shape
    scale = WORK_SIDE / max(height, width)
    if scale >= 1.0:
        return gray
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(gray).resize(size, Image.Resampling.BOX), dtype=np.float32)


def border_is_light(gray: np.ndarray) -> bool:
    """True when the median of the outer band (2 % of each side, at least 1 px) is above the
    midpoint of the image's range: the paper is light and the ink dark."""
    height, width = gray.shape
    band = max(1, round(0.02 * min(height, width)))
    border = np.concatenate([
        gray[:band].ravel(), gray[-band:].ravel(), gray[:, :band].ravel(), gray[:, -band:].ravel()
    ])
    return bool(np.median(border) > 0.5 * (float(gray.min()) + float(gray.max())))


def remove_background(gray: np.ndarray, light_background: bool) -> tuple[np.ndarray, np.ndarray]:
    """(signal, background): the ink left after dividing out (paper) or subtracting (dark
    background) a smooth estimate of the background, both (H, W) float32.

    Paper reflects a fraction of the light that falls on it, so under uneven light the
    ink's contrast scales with the light: ``1 − gray / paper`` recovers it. On a dark
    background (a screen, chalk on a board) the light adds: ``gray − background``.
    """
    if light_background:
        paper = 1.0 - estimate_background(1.0 - gray)
        signal = 1.0 - gray / np.maximum(paper, 1e-3)
        return np.clip(signal, 0.0, 1.0), paper
    background = estimate_background(gray)
    return np.clip(gray - background, 0.0, 1.0), background


def estimate_background(ink: np.ndarray) -> np.ndarray:
    """A smooth estimate of the background's level under bright ink, same shape as ``ink``.

    The image is cut into blocks (BACKGROUND_BLOCKS along the longer side), and each
    block's 5th percentile ignores the ink in it. A quadratic surface
    b(y, x) = c0 + c1·y + c2·x + c3·y² + c4·yx + c5·x² is fitted to those levels by least
    squares three times, each time leaving out the blocks far above the fit (blocks
    inside a thick stroke). Lighting gradients and vignetting are smooth, so the surface
    follows them up to the image's edges.
    """
    height, width = ink.shape
    block = max(1, -(-max(height, width) // BACKGROUND_BLOCKS))
    rows, cols = -(-height // block), -(-width // block)
    padded = np.pad(ink, ((0, rows * block - height), (0, cols * block - width)), mode="edge")
    blocks = padded.reshape(rows, block, cols, block).transpose(0, 2, 1, 3).reshape(rows, cols, -1)
    levels = np.percentile(blocks, 5, axis=-1).ravel()
    quadratic = min(rows, cols) >= 3  # otherwise too few blocks: a constant level
    centre_y, centre_x = np.meshgrid(_centres(rows, block, height, width), _centres(cols, block, height, width),
                                     indexing="ij")
    design = np.stack(_surface_terms(centre_y.ravel(), centre_x.ravel(), quadratic), axis=1)
    keep = np.ones(levels.size, dtype=bool)
    for _ in range(3):
        coefficients = np.linalg.lstsq(design[keep], levels[keep], rcond=None)[0]
        residual = levels - design @ coefficients
        typical = float(np.median(residual[keep]))
        spread = 1.4826 * float(np.median(np.abs(residual[keep] - typical)))
        keep = residual <= typical + 3.0 * spread + 1e-3
    pixel_y = _centres(height, 1, height, width)[:, None]
    pixel_x = _centres(width, 1, height, width)[None, :]
    surface = sum(c * term for c, term in zip(coefficients, _surface_terms(pixel_y, pixel_x, quadratic)))
    return np.broadcast_to(surface, ink.shape).astype(np.float32)


def _centres(count: int, step: int, height: int, width: int) -> np.ndarray:
    """Centres of ``count`` cells of ``step`` pixels, in units of the image's longer side."""
    return (np.arange(count, dtype=np.float64) + 0.5) * step / max(height, width)


def _surface_terms(y: np.ndarray, x: np.ndarray, quadratic: bool) -> list:
    """The terms 1, y, x, y², yx, x² of the background surface (only 1 when not quadratic)."""
    if not quadratic:
        return [np.ones_like(y * x)]
    return [np.ones_like(y * x), y, x, y * y, y * x, x * x]


def smooth_noise(signal: np.ndarray) -> np.ndarray:
    """Average away pixel noise (sensor grain, paper texture) before thresholding.

    Two passes of a box filter of radius r ≈ NOISE_SCALE x the longer side (close to a
    Gaussian of σ ≈ 0.8 r): fine enough to keep strokes, which end up much blurrier
    once shrunk to 20 px, and coarse enough that single noisy pixels fall below Otsu's
    threshold. Images under 200 px are left as they are.
    """
    radius = int(NOISE_SCALE * max(signal.shape))
    for axis in (0, 1) if radius else ():
        signal = _box_filter(_box_filter(signal, radius, axis), radius, axis)
    return signal


def _box_filter(values: np.ndarray, radius: int, axis: int) -> np.ndarray:
    """Mean over a window of 2·radius + 1 along ``axis`` (edges repeated), via cumulative sums."""
    pad = [(0, 0), (0, 0)]
    pad[axis] = (radius + 1, radius)
    sums = np.cumsum(np.pad(values, pad, mode="edge"), axis=axis, dtype=np.float64)
    window = 2 * radius + 1
    upper = np.take(sums, np.arange(window, sums.shape[axis]), axis=axis)
    lower = np.take(sums, np.arange(0, sums.shape[axis] - window), axis=axis)
    return ((upper - lower) / window).astype(np.float32)


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold: the cut that maximises the between-class variance of ``values``.

    With a histogram p over bin centres c, for a cut after bin k:
    ω(k) = Σ_{i≤k} p_i, μ(k) = Σ_{i≤k} p_i c_i, and σ_B²(k) = (μ_T ω − μ)² / (ω (1 − ω)).
    """
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return low
    counts, edges = np.histogram(values, bins=bins, range=(low, high))
    p = counts / counts.sum()
    centres = 0.5 * (edges[:-1] + edges[1:])
    omega = np.cumsum(p)
    mu = np.cumsum(p * centres)
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu[-1] * omega - mu) ** 2 / (omega * (1.0 - omega))
    between = np.nan_to_num(between[:-1], nan=-1.0)
    return float(edges[int(np.argmax(between)) + 1])


def threshold_ink(signal: np.ndarray) -> tuple[np.ndarray, float]:
    """Background-free ink (≥ 0) -> (ink in [0, 1], threshold). Raises ValueError if there is no ink.

    The threshold t is Otsu's, raised if needed to NOISE_SIGMAS noise deviations above
    the background's median: with a small digit on a large noisy photo, Otsu alone
    would split the noise itself (σ is estimated robustly, 1.4826 x the median absolute
    deviation, since most pixels are background). Pixels at or below t become 0; above
    it, (v − t) / (v_99 − t) clipped to 1 keeps the anti-aliased edges' intensities,
    with v_99 the 99th percentile of the ink so a few hot pixels do not dim the digit.
    """
    median = float(np.median(signal))
    sigma = 1.4826 * float(np.median(np.abs(signal - median)))
    threshold = max(otsu_threshold(signal), median + NOISE_SIGMAS * sigma)
    is_ink = signal > threshold
    fraction = float(is_ink.mean())
    if fraction == 0.0 or float(signal[is_ink].mean() - signal[~is_ink].mean()) < MIN_CONTRAST:
        raise ValueError(
            "no ink found: the image has no marks that stand out from the background "
            "(is it blank, or is the digit too faint?)"
        )
    if fraction > MAX_INK_FRACTION:
        raise ValueError(
            f"no digit found: {fraction:.0%} of the image looks like ink; photograph one digit "
            "on a plain background"
        )
    strong = float(np.percentile(signal[is_ink], 99))
    scale = max(strong - threshold, 1e-6)
    return np.clip((signal - threshold) / scale, 0.0, 1.0).astype(np.float32), threshold


def ink_bounding_box(ink: np.ndarray) -> tuple[int, int, int, int]:
    """(top, left, bottom, right), exclusive ends, of the ink, ignoring stray specks.

    Along each axis the box spans the rows (columns) between the first and last that
    hold more than STRAY_INK of the ink mass counted from either end: a speck of dust
    far from the digit must not stretch the box, while the digit's own tips lose a
    fraction of a pixel once it is shrunk to 20 px.
    """
    top, bottom = _mass_span(ink.sum(axis=1))
    left, right = _mass_span(ink.sum(axis=0))
    return top, left, bottom, right


def _mass_span(profile: np.ndarray) -> tuple[int, int]:
    """[start, end) of the entries of ``profile`` (ink per row or column) between its
    STRAY_INK and 1 − STRAY_INK mass quantiles."""
    cumulative = np.cumsum(profile) / profile.sum()
    start = int(np.searchsorted(cumulative, STRAY_INK, side="right"))
    end = int(np.searchsorted(cumulative, 1.0 - STRAY_INK, side="left")) + 1
    return start, end


def scale_to_box(crop: np.ndarray) -> np.ndarray:
    """Resize so the longer side is BOX px, aspect ratio kept, then stretch to max 1.

    Shrinking averages each output pixel's area (BOX: the fraction of it covered by
    ink, an anti-aliased rendering with no ringing); enlarging interpolates bilinearly.
    """
    height, width = crop.shape
    scale = BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    scaled = np.asarray(Image.fromarray(crop).resize(size, resample), dtype=np.float32)
    return scaled / max(float(scaled.max()), 1e-6)


def centre_by_mass(patch: np.ndarray) -> np.ndarray:
    """Paste ``patch`` (values in [0, 1], at most BOX x BOX) into SIZE x SIZE uint8 with its
    centre of mass at CENTRE.

    The shift is rounded to whole pixels, as MNIST's was. Unlike MNIST, it is limited
    so the patch stays inside: a digit whose mass sits near one end (a 7 with a heavy
    bar) keeps all its ink, a pixel or two off centre.
    """
    height, width = patch.shape
    mass = float(patch.sum())
    row = float(patch.sum(axis=1) @ np.arange(height)) / mass
    col = float(patch.sum(axis=0) @ np.arange(width)) / mass
    top = min(max(round(CENTRE - row), 0), SIZE - height)
    left = min(max(round(CENTRE - col), 0), SIZE - width)
    digit = np.zeros((SIZE, SIZE), dtype=np.float32)
    digit[top:top + height, left:left + width] = patch
    return np.round(digit * 255.0).astype(np.uint8)
