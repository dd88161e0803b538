"""``scratchnet datasets``: where each known dataset is found, its sizes; ``datasets download NAME``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..data import DATASETS, locate, registry
from ..data.dataset import local_note, local_sizes, read_arrays
from ..data.download import download
from ..data.errors import DatasetFileError, DownloadError
from .usage import UsageError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "datasets", help="list the known datasets and where they are; download one",
        description="List the known datasets: where each was found (or that it is missing), sizes and image shape. "
                    "`scratchnet datasets download NAME` fetches one from its official mirrors.",
    )
    parser.add_argument("--root", type=Path, help="a folder to look in first (and to download into)")
    parser.set_defaults(func=list_datasets)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    fetch = actions.add_parser("download", help="download a dataset and verify its checksums")
    fetch.add_argument("name", help=f"one of: {', '.join(DATASETS)}")
    fetch.add_argument("--root", type=Path, default=argparse.SUPPRESS,  # keeps `datasets --root DIR download`
                       help="download into this folder instead of the user cache")
    fetch.set_defaults(func=download_dataset)


def list_datasets(args) -> int:
    rows = [("NAME", "TRAIN", "TEST", "IMAGE", "WHERE")]
    for info in DATASETS.values():
        location, _ = locate.find(info, args.root)
        shape = "×".join(map(str, info.image_shape))
        if location is None:
            if info.subset_of:
                rows.append((info.name, f"{info.subset_size:,}", f"{info.test_size:,}", shape,
                             f"no folder: drawn from {info.subset_of} on first use (seed 0)"))
            else:
                rows.append((info.name, f"{info.train_size:,}", f"{info.test_size:,}", shape, "missing"))
            continue
        try:
            n_train, n_test = local_sizes(info, location.files)
            note = local_note(info, location.files, n_train, n_test)
            where = location.describe() + (f" [{note}]" if note else "")
        except DatasetFileError as err:
            n_train = n_test = 0
            where = f"BROKEN: {err}"
        rows.append((info.name, f"{n_train:,}", f"{n_test:,}", shape, where))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[4])
    if any(row[4] == "missing" for row in rows):
        print("\nmissing datasets (official sizes shown) are downloaded on first use, "
              "or now with `scratchnet datasets download NAME`.")
    print("names are case-insensitive; a subset's numbers are always labelled as a subset's.")
    return 0


def download_dataset(args) -> int:
    try:
        info = registry.info(args.name)
    except ValueError as err:
        raise UsageError(str(err)) from None
    if info.subset_of:
        raise UsageError(f"{info.name} has no download of its own: without its folder it is drawn from "
                         f"{info.subset_of}; download that: scratchnet datasets download {info.subset_of}")
    dest = args.root if args.root is not None else locate.cache_dir(info.name)
    try:
        download(info, dest)
        x_train, _, x_test, _ = read_arrays(info, tuple(dest / remote.name for remote in info.files))
    except (DownloadError, DatasetFileError) as err:
        print(f"scratchnet datasets download: {err}", file=sys.stderr)
        return 1
    print(f"{info.name}: {len(x_train):,} training and {len(x_test):,} test images, verified, in {dest}")
    return 0
