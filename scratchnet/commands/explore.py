"""``scratchnet explore DATASET``: the data analysis of SEEDS.md 002/003 as PNGs and a printed summary."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ..data import DATASETS, DatasetFileError, DatasetNotFoundError, load, registry
from ..data.stats import class_counts, pixel_stats
from ..report import dataset_plots
from .usage import UsageError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "explore", help="look at a dataset: class counts, samples, class means, variance, correlations",
        description="Write PNGs (class counts per split, random images with their class names, the mean image of "
                    "each class, per-pixel variance, pixel-label correlation) and print a summary.",
    )
    parser.add_argument("dataset", help=f"one of: {', '.join(DATASETS)} (any case)")
    parser.add_argument("--root", type=Path, help="a folder to look in first")
    parser.add_argument("--out", type=Path, help="folder for the PNGs (default: explore/DATASET)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the random sample grid (default 0)")
    parser.set_defaults(func=explore)


def _summary(ds, counts: dict[str, np.ndarray], stats) -> list[str]:
    shape = "×".join(map(str, ds.image_shape))
    lines = [f"{ds.name}: {len(ds.x_train):,} training and {len(ds.x_test):,} test images, {shape} uint8, "
             f"{ds.num_classes} classes, from {ds.source} ({ds.origin})"]
    if ds.note:
        lines.append(f"note: {ds.note}")
    width = max(len(name) for name in [*ds.classes, "class"])
    lines.append(f"class counts:  {'class'.ljust(width)}  {'train':>7}  {'test':>7}")
    for k, name in enumerate(ds.classes):
        lines.append(f"               {name.ljust(width)}  {counts['train'][k]:>7,}  {counts['test'][k]:>7,}")
    lines.append("pixel values (x/255, train, per channel): mean "
                 + ", ".join(f"{m:.4f}" for m in stats.channel_mean) + "; std "
                 + ", ".join(f"{s:.4f}" for s in stats.channel_std))
    n_const = int(stats.constant.sum())
    corr = stats.label_correlation
    lines.append(f"constant pixels (train): {n_const:,} of {stats.constant.size:,}; "
                 "their pixel-label correlation is undefined (NaN)")
    if np.isfinite(corr).any():
        lines.append(f"pixel-label correlation (Pearson r with the label index): "
                     f"{np.nanmin(corr):+.3f} to {np.nanmax(corr):+.3f}, mean |r| {np.nanmean(np.abs(corr)):.3f}")
    lines.append(f"per-pixel variance of x/255 (train): {stats.variance.min():.4f} to {stats.variance.max():.4f}")
    return lines


def explore(args) -> int:
    try:
        name = registry.canonical(args.dataset)
    except ValueError as err:
        raise UsageError(str(err)) from None
    try:
        ds = load(name, root=args.root)
    except (DatasetNotFoundError, DatasetFileError) as err:
        print(f"scratchnet explore: {err}", file=sys.stderr)
        return 1
    out = args.out if args.out is not None else Path("explore") / ds.name
    out.mkdir(parents=True, exist_ok=True)
    counts = {"train": class_counts(ds.y_train, ds.num_classes), "test": class_counts(ds.y_test, ds.num_classes)}
    stats = pixel_stats(ds.x_train, ds.y_train, ds.num_classes)
    title = ds.name + (" (subset)" if ds.note else "")
    written = [
        dataset_plots.class_counts(counts, ds.classes, title, out / "class_counts.png"),
        dataset_plots.sample_grid(ds.x_train, ds.y_train, ds.classes, title, out / "samples.png", seed=args.seed),
        dataset_plots.class_means(stats.class_means, ds.classes, title, out / "class_means.png"),
        dataset_plots.pixel_variance(stats.variance, title, out / "pixel_variance.png"),
        dataset_plots.label_correlation(stats.label_correlation, stats.constant, title, out / "label_correlation.png"),
    ]
    print("\n".join(_summary(ds, counts, stats)))
    print("wrote " + ", ".join(str(path) for path in written))
    return 0
