"""A picture (photo, drawing, scan) -> one input image for a trained model: the one place
``predict``, ``serve`` and the handwriting benchmark prepare pictures.

Handwriting models (MNIST and its subset, Kuzushiji-MNIST; 1x28x28) get MNIST's own
procedure, ``handwriting.prepare_digit``. Every other model gets the picture resized to its
input, gray or RGB by its channel count; a gray picture with a light background is
inverted, since the MNIST family draws bright on black.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from .handwriting import border_is_light, prepare_digit

# Datasets of centred handwriting: pictures for their models get MNIST's preprocessing.
HANDWRITING_DATASETS = ("mnist", "mnist-10k", "kmnist")
DIGIT_SHAPE = (1, 28, 28)


def is_handwriting(dataset: str, input_shape: tuple[int, int, int]) -> bool:
    """Whether a model trained on ``dataset`` with ``input_shape`` reads MNIST-style digits."""
    return dataset.lower() in HANDWRITING_DATASETS and tuple(input_shape) == DIGIT_SHAPE


def prepare_image(image: Image.Image, model) -> np.ndarray:
    """A picture -> uint8 (C, H, W) in the model's input shape, looking like its training images.

    ``model`` is anything with ``input_shape`` (C, H, W) and ``dataset`` (the name it was
    trained on), e.g. a loaded model file. ValueError when the model's channel count is neither 1 (gray) nor 3 (RGB), or when a
    handwriting picture holds no ink (see ``prepare_digit``).
    """
    channels, height, width = model.input_shape
    if is_handwriting(model.dataset, model.input_shape):
        return prepare_digit(image)[None]
    if channels not in (1, 3):
        raise ValueError(f"the model takes {channels}-channel inputs; only gray (1) or RGB (3) pictures "
                         "can be prepared")
    resized = image.convert("L" if channels == 1 else "RGB").resize((width, height), Image.Resampling.LANCZOS)
    pixels = np.asarray(resized, dtype=np.uint8)
    if channels == 3:
        return pixels.transpose(2, 0, 1).copy()
    return (255 - pixels if border_is_light(pixels / 255.0) else pixels)[None]
