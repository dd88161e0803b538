"""Datasets: finding, downloading and reading them, preparing them, and batching them.

    ds = data.load("fashion-mnist")                 # uint8 (N, C, H, W), int64 labels
    x_tr, y_tr, x_val, y_val = data.train_val_split(ds.x_train, ds.y_train, 10_000, seed=0)
    prep = data.Preprocess.fit(x_tr, kind="zscore")
    for xb, yb in data.Batches(x_tr, y_tr, 500, preprocess=prep, seed=0).epoch(e): ...
"""
from . import augment
from .augment import AUGMENTATIONS, Augment, Compose
from .batches import Batches
from .dataset import Dataset, load
from .errors import DatasetFileError, DatasetNotFoundError, DownloadError
from .prepare import Preprocess, one_hot, subset, train_val_split
from .registry import DATASETS

__all__ = ["AUGMENTATIONS", "Augment", "Batches", "Compose", "augment", "DATASETS", "Dataset", "DatasetFileError", "DatasetNotFoundError",
           "DownloadError", "Preprocess", "load", "one_hot", "subset", "train_val_split"]
