"""The model zoo: `create_model(name, in_channels, num_classes, image_size)` over a registry of builders."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from cnnlab.errors import ModelError
from cnnlab.models.base import ImageClassifier, ModelSpec
from cnnlab.registry import Registry

TIMM_PREFIX = "timm:"


@dataclass(frozen=True)
class ModelEntry:
    build: Callable[..., nn.Module]
    description: str
    default_size: int
    defaults: dict = field(default_factory=dict)  # training defaults the seed gives (weight_decay)


MODELS: Registry[ModelEntry] = Registry("model")


def register_model(name: str, description: str, *, default_size: int, **defaults) -> Callable:
    def add(build: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        MODELS.register(name)(ModelEntry(build, description, default_size, defaults))
        return build

    return add


def model_entry(name: str) -> ModelEntry:
    if name.startswith(TIMM_PREFIX):
        from cnnlab.models.timm_models import timm_entry

        return timm_entry(name[len(TIMM_PREFIX):])
    return MODELS.get(name)


def list_models() -> list[str]:
    return MODELS.names()


def build_network(spec: ModelSpec) -> nn.Module:
    """Build the bare network of `spec` and check that it accepts its input size."""
    entry = model_entry(spec.name)
    try:
        net = entry.build(spec.in_channels, spec.num_classes, spec.image_size, **spec.kwargs)
        with torch.no_grad():
            was = net.training
            out = net.eval()(torch.zeros(1, spec.in_channels, spec.image_size, spec.image_size))
            net.train(was)
    except TypeError as exc:
        raise ModelError(f"{spec.name}: bad model arguments {spec.kwargs}: {exc}") from exc
    except RuntimeError as exc:
        raise ModelError(
            f"{spec.name} cannot take {spec.in_channels}x{spec.image_size}x{spec.image_size} images "
            f"(the feature maps shrink to nothing or mismatch). Use a larger --image-size "
            f"(this model's usual size is {entry.default_size}). Detail: {str(exc).splitlines()[0]}"
        ) from exc
    if out.shape != (1, spec.num_classes):
        raise ModelError(f"{spec.name} put out {tuple(out.shape)} for one image, expected (1, {spec.num_classes})")
    return net


def create_model(name: str, in_channels: int, num_classes: int, image_size: int, *,
                 mean: list[float] | None = None, std: list[float] | None = None, **kwargs) -> ImageClassifier:
    """A zoo network wrapped with its preprocessing; takes float images (N, C, H, W) in [0, 1].

    mean/std default to 0.5 per channel; the classify task passes the training set's statistics.
    """
    if in_channels < 1 or num_classes < 1 or image_size < 1:
        raise ModelError(f"bad model shape: in_channels={in_channels}, num_classes={num_classes}, "
                         f"image_size={image_size}")
    spec = ModelSpec(name, in_channels, num_classes, image_size, dict(kwargs))
    net = build_network(spec)
    return ImageClassifier(net, spec, mean or [0.5] * in_channels, std or [0.5] * in_channels)


def model_from_spec(spec: dict | ModelSpec) -> ImageClassifier:
    """Rebuild an (untrained) model from a saved spec; the caller loads the state dict."""
    spec = spec if isinstance(spec, ModelSpec) else ModelSpec(**spec)
    net = build_network(spec)
    return ImageClassifier(net, spec, [0.0] * spec.in_channels, [1.0] * spec.in_channels)
