"""What every zoo network is: a feature extractor and a head, plus the wrapper that carries preprocessing."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn


class Backbone(nn.Module):
    """features: images -> feature maps or vectors; head: those -> logits, its last layer a Linear.

    Answers timm's calls (`forward_features`, `forward_head`, `get_classifier`, `reset_classifier`)
    so a cnnlab network and a timm network serve every task the same way.
    """

    def __init__(self, features: nn.Module, head: nn.Sequential) -> None:
        super().__init__()
        if not isinstance(head[-1], nn.Linear):
            raise TypeError("the head must end with an nn.Linear classifier")
        self.features, self.head = features, head

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.head[:-1](x) if pre_logits else self.head(x)

    def get_classifier(self) -> nn.Linear:
        return self.head[-1]

    def reset_classifier(self, num_classes: int) -> None:
        self.head[-1] = nn.Linear(self.head[-1].in_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a model before loading its weights."""

    name: str
    in_channels: int
    num_classes: int
    image_size: int
    kwargs: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


class ImageClassifier(nn.Module):
    """A network plus its preprocessing: takes float images (N, C, H, W) in [0, 1], returns logits (N, K).

    Normalisation (mean, std per channel) lives in buffers, so a checkpoint predicts on raw images alone.
    """

    def __init__(self, net: nn.Module, spec: ModelSpec, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.net, self.spec = net, spec
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    @property
    def input_size(self) -> tuple[int, int, int]:
        return (self.spec.in_channels, self.spec.image_size, self.spec.image_size)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward_features(self.normalize(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.net.forward_head(x, pre_logits=pre_logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(x))


def flat_size(features: nn.Module, in_channels: int, image_size: int) -> int:
    """Number of values per image that `features` puts out for a (1, C, S, S) input."""
    with torch.no_grad():
        return features(torch.zeros(1, in_channels, image_size, image_size)).flatten(1).shape[1]


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
