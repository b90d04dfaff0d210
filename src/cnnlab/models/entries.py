"""The zoo's registry of builders: a leaf module the zoo's files register into (it imports none of them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from torch import nn

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
