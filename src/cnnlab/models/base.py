"""What every zoo network is: a feature extractor and a head, plus the wrapper that carries preprocessing."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
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
    in_channels: int  # channels of the images given to the model
    num_classes: int
    image_size: int  # side of the images given to the model
    kwargs: dict = field(default_factory=dict)
    net_channels: int | None = None  # channels the network takes (3 for an RGB backbone); None: in_channels
    input_size: int | None = None  # side the network takes (224 for ImageNet weights); None: image_size
    pretrained: str | None = None  # where the initial weights came from, for the record
    bn_eps: float | None = None  # BatchNorm epsilon the weights need, when not the architecture's default

    @property
    def network_channels(self) -> int:
        return self.net_channels or self.in_channels

    @property
    def network_size(self) -> int:
        return self.input_size or self.image_size

    def to_dict(self) -> dict:
        return asdict(self)


class ImageClassifier(nn.Module):
    """A network plus its preprocessing: takes float images (N, C, H, W) in [0, 1], returns logits (N, K).

    Preprocessing lives in the module: grayscale repeated to the network's 3 channels, images resized to
    the network's input size, then normalised with per-channel mean and std kept in buffers. A checkpoint
    therefore predicts on raw images alone.
    """

    def __init__(self, net: nn.Module, spec: ModelSpec, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.net, self.spec = net, spec
        self.notes: list[str] = []  # what happened while building it (weights loaded, head replaced...)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    @property
    def input_size(self) -> tuple[int, int, int]:
        return (self.spec.in_channels, self.spec.image_size, self.spec.image_size)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) in [0, 1] -> what the network takes: (N, net C, net S, net S), normalised."""
        if x.shape[1] == 1 and self.spec.network_channels == 3:
            x = x.expand(-1, 3, -1, -1)
        size = self.spec.network_size
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        return (x - self.mean) / self.std

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward_features(self.prepare(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.net.forward_head(x, pre_logits=pre_logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.prepare(x))

    def head_parameters(self) -> list[nn.Parameter]:
        return list(self.net.get_classifier().parameters())

    def set_trainable(self, part: str) -> None:
        """'all' trains every parameter; 'head' freezes everything but the classifier."""
        set_trainable(self, self.head_parameters(), part)


def set_trainable(module: nn.Module, head: list[nn.Parameter], part: str) -> None:
    """'all' trains every parameter of `module`; 'head' freezes all but the `head` parameters. Parameters a
    network fixed for good (marked `cnnlab_frozen`, e.g. whitening filters) stay frozen either way."""
    if part not in ("all", "head"):
        raise ValueError(f"part must be 'all' or 'head', got {part!r}")
    keep = {id(p) for p in head}
    for p in module.parameters():
        p.requires_grad_((part == "all" or id(p) in keep) and not getattr(p, "cnnlab_frozen", False))


def flat_size(features: nn.Module, in_channels: int, image_size: int) -> int:
    """Number of values per image that `features` puts out for a (1, C, S, S) input."""
    with torch.no_grad():
        return features(torch.zeros(1, in_channels, image_size, image_size)).flatten(1).shape[1]


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
