"""Models ready to train: `create_model` (a zoo, timm or pretrained network with its preprocessing), and
`model_for_images`, a model made for a training set: its normalisation from the images, and layers that set themselves
from the data (the fast recipe's whitening filters) fitted to them. Every task that trains a zoo backbone on
images makes it here."""

from __future__ import annotations

import torch

from cnnlab.data.images import channel_stats
from cnnlab.errors import DataError, ModelError
from cnnlab.models.base import ImageClassifier, ModelSpec
from cnnlab.models.registry import build_network
from cnnlab.models.transfer import pretrained_model
from cnnlab.options import said


def create_model(name: str, in_channels: int, num_classes: int, image_size: int, *,
                 mean: list[float] | None = None, std: list[float] | None = None, pretrained: bool = False,
                 weights: str | None = None, input_size: int | None = None, **kwargs) -> ImageClassifier:
    """A zoo network wrapped with its preprocessing; takes float images (N, C, H, W) in [0, 1].

    mean/std default to 0.5 per channel; the classify task passes the training set's statistics.
    With `pretrained` (or a `weights` file) the network starts from ImageNet weights (see
    cnnlab.models.pretrained): it then takes 3 channels at the weights' input size (or `input_size`),
    normalises with the weights' statistics, and gets a new classifier for `num_classes`.
    """
    if in_channels < 1 or num_classes < 1 or image_size < 1:
        raise ModelError(f"bad model shape: in_channels={in_channels}, num_classes={num_classes}, "
                         f"image_size={image_size}")
    if pretrained or weights:
        return pretrained_model(name, in_channels, num_classes, image_size, weights=weights, input_size=input_size,
                                **kwargs)
    spec = ModelSpec(name, in_channels, num_classes, image_size, dict(kwargs), input_size=input_size)
    net = build_network(spec)
    channels = spec.network_channels
    return ImageClassifier(net, spec, mean or [0.5] * channels, std or [0.5] * channels)


def model_for_images(name: str, images: torch.Tensor, num_classes: int, **options) -> ImageClassifier:
    """create_model for uint8 images (N, C, S, S): mean and std from them, then `fit_to_data`. `options` are
    create_model's keywords (pretrained, weights, input_size, builder arguments)."""
    height, width = images.shape[2:]
    if height != width:
        raise DataError(f"images are {height}x{width}; models take square images, pass {said('image_size')} N")
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
