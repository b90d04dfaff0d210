"""The seed's DenseNet: four dense blocks of 12 BN-ReLU-Conv3x3 layers, growth 12, compression 0.5.

Keras reports 906,610 parameters for it on 28x28x1 because it counts BatchNorm's moving mean and
variance (16,614 values here) as non-trainable parameters; PyTorch keeps them as buffers, so the same
network has 889,996 parameters here. Convolutions carry no bias, as in the seed.
"""

from __future__ import annotations

import torch
from torch import nn

from cnnlab.models.base import Backbone
from cnnlab.models.entries import register_model


class DenseLayer(nn.Module):
    """BN-ReLU-Conv3x3(growth)-SpatialDropout, its output concatenated to its input."""

    def __init__(self, channels: int, growth: int, dropout: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(channels), nn.ReLU(inplace=True),
            nn.Conv2d(channels, growth, 3, padding=1, bias=False), nn.Dropout2d(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.body(x)], 1)  # (N, C + growth, H, W)


def transition(channels: int, out: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.BatchNorm2d(channels), nn.ReLU(inplace=True), nn.Conv2d(channels, out, 1, bias=False),
        nn.Dropout2d(dropout), nn.AvgPool2d(2),
    )


@register_model("densenet-seed", "the seed's DenseNet (4x12 layers, growth 12); 889,996 params on 28x28x1",
                default_size=28, weight_decay=2e-4)
def densenet_seed(in_channels: int, num_classes: int, image_size: int, *, blocks: int = 4, layers: int = 12,
                  growth: int = 12, init_filters: int = 24, compression: float = 0.5,
                  dropout: float = 0.2) -> Backbone:
    # weight_decay=2e-4 with Adam equals the seed's Keras L2(1e-4): Keras adds 1e-4 * w^2 to the loss.
    modules: list[nn.Module] = [nn.Conv2d(in_channels, init_filters, 3, padding=1, bias=False)]
    channels = init_filters
    for b in range(blocks):
        for _ in range(layers):
            modules.append(DenseLayer(channels, growth, dropout))
            channels += growth
        if b < blocks - 1:
            out = int(channels * compression)
            modules.append(transition(channels, out, dropout))
            channels = out
    modules += [nn.BatchNorm2d(channels), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return Backbone(nn.Sequential(*modules), nn.Sequential(nn.Linear(channels, num_classes)))
