"""The localizer: a zoo or timm backbone's feature map into a class head and a box head (one object), or into a
fully convolutional grid head (several objects, anchor-free: objectness, class and box per cell).

Single object (the lecture's network): the feature map is pooled for the class head; beside it the channels are
squeezed by a 1x1 convolution and the whole small map goes through a hidden layer, which the box head reads
(pooling alone throws position away) and the class head reads too (small backbones without pretrained
weights need it). Boxes come out as (x0, y0, x1, y1) in [0, 1] of the image.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from cnnlab.errors import ModelError
from cnnlab.models.base import ImageClassifier, ModelSpec
from cnnlab.models.factory import create_model
from cnnlab.models.registry import model_from_spec

SQUEEZE = 32  # channels the box head keeps per cell
HIDDEN = 256  # units of the box head's hidden layer
GRID_HIDDEN = 128  # channels of the grid head's 3x3 convolution


@dataclass(frozen=True)
class LocalizerSpec:
    """Everything needed to rebuild a localizer before loading its weights."""

    head: str  # single or detect
    num_classes: int
    backbone: dict  # the backbone's ModelSpec
    channels: int  # of the backbone's feature map
    grid: int  # its side (the image side over the backbone's stride)

    def to_dict(self) -> dict:
        return asdict(self)


def cxcywh_to_xyxy(t: torch.Tensor) -> torch.Tensor:
    cx, cy, w, h = t.unbind(-1)
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1)


class Localizer(nn.Module):
    """Takes float images (N, C, S, S) in [0, 1]. Single head: {"logits" (N, K), "boxes" (N, 4) xyxy in [0, 1]};
    detect head: {"grid" (N, 5 + K, G, G)}: objectness, K class logits, and the box (tx, ty, tw, th) per cell."""

    def __init__(self, backbone: ImageClassifier, spec: LocalizerSpec) -> None:
        super().__init__()
        self.backbone, self.spec = backbone, spec
        self.notes: list[str] = []
        c, k, g = spec.channels, spec.num_classes, spec.grid
        if spec.head == "single":
            self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
            self.spatial = nn.Sequential(nn.Conv2d(c, SQUEEZE, 1), nn.ReLU(inplace=True), nn.Flatten(),
                                         nn.Linear(SQUEEZE * g * g, HIDDEN), nn.ReLU(inplace=True))
            self.cls_head = nn.Sequential(nn.Dropout(0.2), nn.Linear(c + HIDDEN, k))
            self.box_head = nn.Linear(HIDDEN, 4)
        else:
            self.grid_head = nn.Sequential(nn.Conv2d(c, GRID_HIDDEN, 3, padding=1, bias=False),
                                           nn.BatchNorm2d(GRID_HIDDEN), nn.ReLU(inplace=True),
                                           nn.Conv2d(GRID_HIDDEN, 5 + k, 1))
            nn.init.constant_(self.grid_head[-1].bias[0], -4.0)  # few cells hold an object: start near "none"

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.backbone.forward_features(x)  # (N, C, G, G)
        if self.spec.head == "single":
            hidden = self.spatial(features)  # (N, HIDDEN)
            box = torch.sigmoid(self.box_head(hidden).float())  # (N, 4): cx, cy, w, h in [0, 1]
            logits = self.cls_head(torch.cat([self.pool(features), hidden], 1))  # (N, K)
            return {"logits": logits, "boxes": cxcywh_to_xyxy(box)}
        return {"grid": self.grid_head(features)}  # (N, 5 + K, G, G)

    def head_parameters(self) -> list[nn.Parameter]:
        """Everything but the backbone: what trains while the backbone is frozen."""
        return [p for n, p in self.named_parameters() if not n.startswith("backbone.")]

    def set_trainable(self, part: str) -> None:
        """'head' freezes the backbone; 'all' fine-tunes it too (the backbone's unused classifier never learns)."""
        for p in self.backbone.parameters():
            p.requires_grad_(part == "all")
        for p in self.backbone.net.get_classifier().parameters():
            p.requires_grad_(False)
        for p in self.head_parameters():
            p.requires_grad_(True)


def feature_shape(backbone: ImageClassifier, image_size: int) -> tuple[int, int]:
    """(channels, side) of the backbone's feature map for one image; ModelError when it is not a map."""
    was = backbone.training
    with torch.no_grad():
        out = backbone.eval().forward_features(torch.zeros(1, backbone.spec.in_channels, image_size, image_size))
    backbone.train(was)
    if out.ndim != 4 or out.shape[-1] != out.shape[-2]:
        raise ModelError(f"{backbone.spec.name} gives features of shape {tuple(out.shape[1:])}, not a square map; the "
                         "localizer needs a CNN backbone such as timm:efficientnet_lite0, resnet34 or baseline-cnn")
    return out.shape[1], out.shape[-1]


def create_localizer(model: str, head: str, num_classes: int, *, in_channels: int = 3, image_size: int = 224,
                     pretrained: bool = True, weights: str | None = None) -> Localizer:
    """A localizer on `model` (ImageNet weights when `pretrained`, found offline as classify finds them)."""
    backbone = create_model(model, in_channels, num_classes, image_size, pretrained=pretrained, weights=weights,
                            input_size=image_size if (pretrained or weights) else None)
    channels, grid = feature_shape(backbone, image_size)
    net = Localizer(backbone, LocalizerSpec(head, num_classes, backbone.spec.to_dict(), channels, grid))
    net.notes = [n for n in backbone.notes if not n.startswith("new classifier head")]
    return net


def localizer_from_spec(spec: dict) -> Localizer:
    """An untrained localizer of a checkpoint's spec; the caller loads the state dict."""
    spec = LocalizerSpec(**spec)
    return Localizer(model_from_spec(ModelSpec(**spec.backbone)), spec)
