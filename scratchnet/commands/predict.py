"""``scratchnet predict RUN IMAGE...``: classify image files with a trained model.

Each IMAGE is a picture Pillow reads (PNG, JPEG, ...) or an IDX images file (gzip or
raw, as MNIST's). Pictures are first brought to the form of the model's training
images by ``prepare_image``; IDX files already are in that form. A file that cannot
be read gets its own error message, the others are still answered, and the exit
status is 1 if any file failed.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from ..data import DatasetNotFoundError
from ..data.handwriting import open_image
from ..data.idx import read_idx
from ..data.pictures import prepare_image
from ..terminal import batches
from ..train.config import NORMALIZATIONS
from ..train.modelfile import FOREIGN_DEFAULT_NORMALIZE, load_model
from .usage import UsageError

_GZIP_MAGIC, _IDX_UINT8_MAGIC = b"\x1f\x8b", b"\x00\x00\x08"  # IDX: two zero bytes, then type 0x08 (uint8)
MAX_EXPLAINED = 24  # rows of the --explain figure
PREDICT_BATCH = 1000


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="classify PNG/JPEG images or an IDX file with a trained model",
        description="Print the most probable classes of each image. Photos of digits are prepared "
        "the way MNIST's digits were (grayscale, ink bright on dark, cropped, scaled to 20 px and "
        "centred by mass); other pictures are resized to the model's input.",
    )
    parser.add_argument("run", metavar="RUN", type=Path, help="a training run folder, its model file or an exported model.onnx")
    parser.add_argument("images", metavar="IMAGE", type=Path, nargs="+",
                        help="PNG/JPEG files, or IDX image files (gzip or raw)")
    parser.add_argument("--top-k", type=int, default=3, metavar="K",
                        help="how many of the most probable classes to show (default 3)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object per image: file, index (IDX only), prediction, "
                        "probabilities of the top K classes; or file and error")
    parser.add_argument("--explain", type=Path, metavar="PNG",
                        help=f"also write a PNG showing each image next to what the network saw (e.g. the "
                        f"28x28 digit cut from a photo) and its top K probabilities; the first {MAX_EXPLAINED} images")
    foreign = parser.add_argument_group("ONNX files without scratchnet metadata (e.g. from torch.onnx.export)")
    foreign.add_argument("--dataset", help="the dataset whose classes the model's outputs are (required for such "
                         "a file); its images give the input shape where the file does not fix it")
    add_normalize_argument(foreign)
    foreign.add_argument("--root", metavar="DIR", help="a folder holding the dataset's files (for --normalize zscore)")
    parser.set_defaults(func=run)


def add_normalize_argument(parser) -> None:
    """``--normalize``: the preprocessing of an ONNX file without scratchnet metadata (evaluate and predict)."""
    parser.add_argument("--normalize", choices=NORMALIZATIONS,
                        help="for an ONNX file without scratchnet metadata (e.g. from torch.onnx.export): how its "
                        f"inputs were scaled (default {FOREIGN_DEFAULT_NORMALIZE}: pixels / 255, as torchvision's "
                        "ToTensor(); zscore: minus the dataset's training-set mean, over its std; none: 0..255)")


def run(args: argparse.Namespace) -> int:
    if args.top_k < 1:
        raise UsageError(f"--top-k must be at least 1, got {args.top_k}")
    if args.explain and (args.explain.suffix.lower() != ".png" or not args.explain.parent.is_dir()):
        raise UsageError(f"--explain {args.explain}: give a .png file in an existing folder")
    try:
        model = load_model(args.run, dataset=args.dataset, normalize=args.normalize, root=args.root)
    except (ValueError, DatasetNotFoundError) as err:
        raise UsageError(str(err)) from None
    assumed = model.extra.get("preprocessing_assumed")
    if args.dataset and not assumed:
        raise UsageError(f"{args.run} is a scratchnet model, which names its own classes; --dataset is for ONNX files "
                         "without scratchnet metadata (e.g. from torch.onnx.export)")
    if assumed:
        print(f"scratchnet predict: {args.run} has no scratchnet metadata: classes of {model.dataset}, inputs "
              f"{model.input_shape}, preprocessing assumed {assumed}", file=sys.stderr, flush=True)
    failures = 0
    explained = []
    for path in args.images:
        try:
            indices, images = read_images(path, model)
        except ValueError as err:
            failures += 1
            report_failure(path, err, args.json)
            continue
        probabilities = np.concatenate([model.predict_proba(images[i:i + PREDICT_BATCH])  # a bar for many images
                                        for i in batches(len(images), PREDICT_BATCH, f"predicting {path.name}")])
        if not np.isfinite(probabilities).all():
            failures += 1
            report_failure(path, ValueError("the model gives probabilities that are not numbers (NaN): its weights "
                                            "are broken (did its training diverge?)"), args.json)
            continue
        for index, row in zip(indices, probabilities):
            top = top_classes(row, model.classes, args.top_k)
            print(json_line(path, index, top) if args.json else table(path, index, top), flush=True)
            if args.explain and len(explained) < MAX_EXPLAINED:
                seen = images[0 if index is None else index]
                original = open_image(path) if index is None else seen
                explained.append((describe(path, index), original, seen, top))
    if args.explain and explained:
        write_explanation(args.explain, explained)
        print(f"scratchnet predict: wrote {args.explain}", file=sys.stderr, flush=True)
    return 1 if failures else 0


# -- reading and preparing images -----------------------------------------------------------
def read_images(path: Path, model) -> tuple[list[int | None], np.ndarray]:
    """The images of one file as uint8 (N, C, H, W) in the model's input shape, and their
    indices in the file (None for a single picture). ValueError says what is wrong."""
    if not path.is_file():
        raise ValueError("no such file" if not path.exists() else "not a file")
    with open(path, "rb") as f:
        head = f.read(3)
    if head[:2] == _GZIP_MAGIC or head == _IDX_UINT8_MAGIC:
        images = read_idx_images(path, tuple(model.input_shape))
        return list(range(len(images))), images
    return [None], prepare_image(open_image(path), model)[None]


def read_idx_images(path: Path, input_shape: tuple[int, int, int]) -> np.ndarray:
    """An IDX images file (N, H, W) -> (N, 1, H, W); its images must match the model's input."""
    images = read_idx(path, ndim=3)[:, None]
    if images.shape[1:] != input_shape:
        raise ValueError(f"holds {images.shape[2]}x{images.shape[3]} gray images, but the model takes "
                         f"{'x'.join(map(str, input_shape))} inputs")
    return images


# -- output --------------------------------------------------------------------------------
def top_classes(probabilities: np.ndarray, classes: list[str], k: int) -> list[tuple[str, float]]:
    """The k most probable (class, probability) pairs, most probable first."""
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [(str(classes[i]), float(probabilities[i])) for i in order]


def describe(path: Path, index: int | None) -> str:
    return str(path) if index is None else f"{path}[{index}]"


def table(path: Path, index: int | None, top: list[tuple[str, float]]) -> str:
    """A small aligned table: the file and its prediction, then the top classes."""
    width = max(len("class"), *(len(name) for name, _ in top))
    lines = [f"{describe(path, index)}: {top[0][0]}", f"  {'class':<{width}}  probability"]
    lines += [f"  {name:<{width}}  {100 * p:10.2f} %" for name, p in top]
    return "\n".join(lines) + "\n"


def json_line(path: Path, index: int | None, top: list[tuple[str, float]]) -> str:
    record: dict = {"file": str(path)}
    if index is not None:
        record["index"] = index
    record["prediction"] = top[0][0]
    record["probabilities"] = dict(top)
    return json.dumps(record)


def write_explanation(path: Path, rows: list) -> None:
    """A PNG with one row per (title, original, network input (C, H, W) uint8, top classes):
    the original picture, the image the network received, and its top probabilities."""
    from matplotlib.figure import Figure  # no pyplot: no global figure state, no GUI backend

    figure = Figure(figsize=(8, 2.3 * len(rows)), layout="constrained")
    axes = figure.subplots(len(rows), 3, squeeze=False, width_ratios=[1, 1, 1.5])
    for (title, original, seen, top), (left, middle, right) in zip(rows, axes):
        left.imshow(_displayable(original), cmap="gray")
        left.set_title(title, fontsize=8)
        middle.imshow(_displayable(seen), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        middle.set_title(f"network input {seen.shape[2]}x{seen.shape[1]}", fontsize=8)
        for ax in (left, middle):
            ax.set_xticks([])
            ax.set_yticks([])
        names, probabilities = zip(*top)
        right.barh(range(len(top)), probabilities, color=["tab:orange"] + ["tab:blue"] * (len(top) - 1))
        right.set_yticks(range(len(top)), names)
        right.invert_yaxis()
        right.set_xlim(0, 1)
        right.set_title(f"prediction: {names[0]} ({100 * probabilities[0]:.1f} %)", fontsize=8)
    figure.savefig(path, dpi=100)


def _displayable(image) -> np.ndarray:
    """A PIL picture or a (C, H, W) uint8 array as something ``imshow`` draws: (H, W) or (H, W, 3|4)."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGBA" if "A" in image.getbands() else "RGB"))
    return image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)


def report_failure(path: Path, error: Exception, as_json: bool) -> None:
    """One line naming the file and what is wrong: a JSON record on stdout, or text on stderr."""
    message = str(error) if str(error).startswith(str(path)) else f"{path}: {error}"
    if as_json:
        print(json.dumps({"file": str(path), "error": message}), flush=True)
    else:
        print(f"scratchnet predict: {message}", file=sys.stderr, flush=True)
