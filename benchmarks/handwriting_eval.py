"""Evidence for issue 7: an MNIST model on real handwriting that is not MNIST, with and
without MNIST-style preprocessing (``scratchnet.data.handwriting.prepare_digit``).

Test sets, all built here from what is installed (no downloads):

- ``optdigits-photo``: the 1,797 digits of scikit-learn's ``load_digits`` (UCI "Optical
  Recognition of Handwritten Digits": forms filled in by 43 people, 32x32 bitmaps
  reduced to 8x8 counts of ink, 0..16). Each is enlarged bicubically to 64..180 px and
  printed as dark ink (gray 10..90) on light paper (gray 170..250) in a 240x320 photo, at
  a random place, under a random lighting gradient (the far side at 45..100 % of the
  light), with sensor noise (σ 3..12 gray levels), saved as JPEG (quality 70..95).
- ``optdigits-clean``: the same digits enlarged to 112x112, white on black, filling
  the frame: a drawing app's export, where only size and centring differ from MNIST.
- ``fonts-photo``: digits 0-9 typed in every TrueType font ``fc-list`` finds (DejaVu
  here), 6 versions each: size 60..160 px, stroke thickness 0..4 px extra, rotation
  ±12°, dark on light and photographed as above.
- ``mnist-test``: 2,000 MNIST test digits as they are, a check that ``prepare_digit``
  leaves images already made the MNIST way (nearly) unchanged.

Preprocessings compared, all followed by the same model:
- ``naive``: grayscale and resize to 28x28 (what SEEDS.md 004 did);
- ``naive+invert``: the same, inverted when the border is light (white ink on black);
- ``prepare_digit``: MNIST's procedure (crop, 20 px box, centre of mass).

The model is a small CNN trained with ``scratchnet.train.fit`` on the 10,000-digit MNIST
subset in ../shared/datasets/mnist-10k (or ``--run`` to use a run you trained)::

    python benchmarks/handwriting_eval.py [--run RUN] [--out runs/handwriting-cnn] [--epochs 8]
"""
from __future__ import annotations

import argparse
import io
import json
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from scratchnet.data.handwriting import border_is_light
from scratchnet.data.idx import read_idx
from scratchnet.data.pictures import prepare_image
from scratchnet.train import TrainConfig, fit
from scratchnet.train.modelfile import load_model

REPO = Path(__file__).resolve().parents[1]
MNIST_10K = REPO.parent / "shared" / "datasets" / "mnist-10k"
MNIST_MODEL = SimpleNamespace(input_shape=(1, 28, 28), dataset="mnist")  # what prepare_image reads of a model
PHOTO_SIZE = (240, 320)  # width, height of the "photos"
SMALL_CNN = {"layers": [  # 28x28 -> 14x14 -> 7x7 by strided convolutions
    {"type": "Conv2d", "in_channels": 1, "out_channels": 16, "kernel_size": 5, "stride": 2, "padding": 2},
    {"type": "ReLU"},
    {"type": "Conv2d", "in_channels": 16, "out_channels": 32, "kernel_size": 5, "stride": 2, "padding": 2},
    {"type": "ReLU"},
    {"type": "Flatten"},
    {"type": "Linear", "in_features": 32 * 7 * 7, "out_features": 64},
    {"type": "ReLU"},
    {"type": "Linear", "in_features": 64, "out_features": 10},
]}


# -- the photographs ---------------------------------------------------------------------------
def photograph(ink: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """Ink coverage (h, w) in [0, 1] -> a JPEG-compressed photo of it on unevenly lit paper."""
    width, height = PHOTO_SIZE
    coverage = np.zeros((height, width), dtype=np.float32)
    h, w = ink.shape
    top, left = rng.integers(0, height - h + 1), rng.integers(0, width - w + 1)
    coverage[top:top + h, left:left + w] = ink
    paper, pen = rng.uniform(170, 250), rng.uniform(10, 90)
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:height, 0:width] / max(width, height)
    ramp = (np.cos(angle) * xs + np.sin(angle) * ys)
    ramp = (ramp - ramp.min()) / np.ptp(ramp)
    light = 1.0 - (1.0 - rng.uniform(0.45, 1.0)) * ramp
    pixels = (paper * (1 - coverage) + pen * coverage) * light + rng.normal(0, rng.uniform(3, 12), coverage.shape)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=int(rng.integers(70, 96)))
    return Image.open(buffer)


def enlarge(digit8: np.ndarray, side: int) -> np.ndarray:
    """An 8x8 optdigits image (0..16) -> (side, side) ink coverage in [0, 1], bicubic.

    A blank 1-cell margin is added first, so ink that touches the 8x8 grid's edge fades
    out instead of ending in a straight cut.
    """
    small = Image.fromarray(np.pad(digit8 / 16.0, 1).astype(np.float32))
    return np.clip(np.asarray(small.resize((side, side), Image.Resampling.BICUBIC)), 0, 1)


def optdigits_sets(rng: np.random.Generator) -> dict[str, tuple[list[Image.Image], np.ndarray]]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    photos = [photograph(enlarge(d, int(rng.integers(64, 181))), rng) for d in digits.images]
    clean = [Image.fromarray((enlarge(d, 112) * 255).astype(np.uint8)) for d in digits.images]
    return {"optdigits-photo": (photos, digits.target), "optdigits-clean": (clean, digits.target)}


def font_files() -> list[str]:
    """TrueType/OpenType fonts known to fontconfig (``fc-list``), sorted; none if it is missing."""
    try:
        listing = subprocess.run(["fc-list", "--format", "%{file}\n"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return []
    return sorted({line for line in listing.stdout.splitlines() if line.endswith((".ttf", ".otf"))})


def typed_digit(font_file: str, digit: int, rng: np.random.Generator) -> np.ndarray:
    """A digit typed in ``font_file``, jittered in size, thickness and angle, as ink coverage."""
    font = ImageFont.truetype(font_file, int(rng.integers(60, 161)))
    stroke = int(rng.integers(0, 5))
    left, top, right, bottom = font.getbbox(str(digit), stroke_width=stroke)
    canvas = Image.new("L", (right - left + 8, bottom - top + 8), 0)
    ImageDraw.Draw(canvas).text((4 - left, 4 - top), str(digit), font=font, fill=255, stroke_width=stroke,
                                stroke_fill=255)
    rotated = canvas.rotate(rng.uniform(-12, 12), resample=Image.Resampling.BICUBIC, expand=True)
    ink = np.asarray(rotated, dtype=np.float32) / 255.0
    limit = min(PHOTO_SIZE) - 10
    if max(ink.shape) > limit:  # keep it inside the photo
        scale = limit / max(ink.shape)
        size = (max(1, int(ink.shape[1] * scale)), max(1, int(ink.shape[0] * scale)))
        ink = np.asarray(Image.fromarray(ink).resize(size, Image.Resampling.BOX))
    return ink


def mnist_test_set(count: int = 2000) -> tuple[list[Image.Image], np.ndarray]:
    images = read_idx(MNIST_10K / "t10k-images-idx3-ubyte.gz", ndim=3)[:count]
    labels = read_idx(MNIST_10K / "t10k-labels-idx1-ubyte.gz", ndim=1)[:count]
    return [Image.fromarray(image) for image in images], labels


def font_set(rng: np.random.Generator, versions: int = 6) -> tuple[list[Image.Image], np.ndarray]:
    images, labels = [], []
    for font_file in font_files():
        for digit in range(10):
            for _ in range(versions):
                images.append(photograph(typed_digit(font_file, digit, rng), rng))
                labels.append(digit)
    return images, np.array(labels)


# -- the preprocessings ------------------------------------------------------------------------
def naive(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L").resize((28, 28), Image.Resampling.LANCZOS), dtype=np.uint8)


def naive_invert(image: Image.Image) -> np.ndarray:
    pixels = naive(image)
    return 255 - pixels if border_is_light(pixels / 255.0) else pixels


PREPROCESSINGS = {"naive": naive, "naive+invert": naive_invert,  # then predict's and serve's own preparation:
                  "prepare_digit": lambda image: prepare_image(image, MNIST_MODEL)[0]}


def accuracy(model, images: list[Image.Image], labels: np.ndarray, prepare) -> tuple[float, int]:
    """(accuracy, number of images prepare refused); a refused image counts as wrong."""
    batch, kept, refused = [], [], 0
    for image, label in zip(images, labels):
        try:
            batch.append(prepare(image))
            kept.append(label)
        except ValueError:
            refused += 1
    predicted = model.predict_proba(np.stack(batch)[:, None]).argmax(axis=1) if batch else np.array([])
    return float((predicted == np.array(kept)).sum()) / len(labels), refused


def train_model(out: Path, epochs: int) -> Path:
    spec_file = out.parent / f"{out.name}-spec.json"
    spec_file.parent.mkdir(parents=True, exist_ok=True)
    spec_file.write_text(json.dumps(SMALL_CNN))
    config = TrainConfig(dataset="mnist", root=str(MNIST_10K), model=str(spec_file), epochs=epochs, batch_size=64,
                         lr=2e-3, normalize="scale", augment="crop", crop_padding=2, val_size=1000, out=str(out))
    result = fit(config, quiet=True)
    print(f"trained {out}: MNIST test accuracy {result.metrics['test_accuracy']:.4f}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, help="use this trained MNIST run (or model.npz) instead of training")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "handwriting-cnn", help="where to train")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    run = args.run or train_model(args.out, args.epochs)
    model = load_model(run / "model.npz" if run.is_dir() else run)
    rng = np.random.default_rng(args.seed)
    sets = {**optdigits_sets(rng), "fonts-photo": font_set(rng), "mnist-test": mnist_test_set()}

    print(f"\n{'test set':<16} {'images':>6}  " + "  ".join(f"{name:>14}" for name in PREPROCESSINGS))
    for set_name, (images, labels) in sets.items():
        if not images:
            print(f"{set_name:<16} (no images: no fonts found by fc-list)")
            continue
        cells = []
        for prepare in PREPROCESSINGS.values():
            start = time.perf_counter()
            acc, refused = accuracy(model, images, labels, prepare)
            per_image_ms = 1000 * (time.perf_counter() - start) / len(images)
            cells.append(f"{100 * acc:6.2f} %" + (f" ({refused} refused)" if refused else "") + f" [{per_image_ms:.1f} ms]")
        print(f"{set_name:<16} {len(images):>6}  " + "  ".join(f"{c:>14}" for c in cells))


if __name__ == "__main__":
    main()
