"""A zoo model made for a training set: its normalisation from the images, and layers that set themselves
from the data (the fast recipe's whitening filters) fitted to them. Every task that trains a zoo backbone on
images makes it here."""

from __future__ import annotations

import torch

from cnnlab.data.images import channel_stats
from cnnlab.errors import DataError
from cnnlab.models.base import ImageClassifier
from cnnlab.models.registry import create_model


def model_for_images(name: str, images: torch.Tensor, num_classes: int, **options) -> ImageClassifier:
    """create_model for uint8 images (N, C, S, S): mean and std from them, then `fit_to_data`. `options` are
    create_model's keywords (pretrained, weights, input_size, builder arguments)."""
    height, width = images.shape[2:]
    if height != width:
        raise DataError(f"images are {height}x{width}; models take square images, pass --image-size N")
    mean, std = channel_stats(images)
    model = create_model(name, images.shape[1], num_classes, height, mean=mean, std=std, **options)
    fit_to_data(model, images)
    return model


def fit_to_data(model: torch.nn.Module, images: torch.Tensor, count: int = 5000) -> None:
    """Layers that set themselves from the training images see the first `count` of them, preprocessed as
    the model preprocesses."""
    hooks = [m for m in model.modules() if hasattr(m, "fit_to_images")]
    if hooks:
        with torch.no_grad():
            x = model.prepare(images[:count].float() / 255)
        for module in hooks:
            module.fit_to_images(x)
