"""ResNet-34, a small Inception and a small Xception, written from their papers' block diagrams."""

from __future__ import annotations

import torch
from torch import nn

from cnnlab.models.base import Backbone
from cnnlab.models.entries import register_model


def conv_bn(cin: int, cout: int, k: int, stride: int = 1, relu: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, k, stride, padding=k // 2, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, nn.ReLU(inplace=True)) if relu else nn.Sequential(*layers)


def stem(in_channels: int, out: int, image_size: int) -> nn.Sequential:
    """ImageNet stem (7x7 stride 2 + max-pool) from 96 px up; a 3x3 stride-1 conv for small images,
    which would otherwise shrink to nothing before the last stage."""
    if image_size >= 96:
        return nn.Sequential(conv_bn(in_channels, out, 7, 2), nn.MaxPool2d(3, 2, padding=1))
    return conv_bn(in_channels, out, 3)


class ResidualUnit(nn.Module):
    """Two 3x3 conv-BN layers plus the input; a 1x1 projection on the skip path when the stride is 2."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.main = nn.Sequential(conv_bn(cin, cout, 3, stride), conv_bn(cout, cout, 3, relu=False))
        self.skip = conv_bn(cin, cout, 1, stride, relu=False) if stride != 1 or cin != cout else nn.Identity()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.main(x) + self.skip(x))


@register_model("resnet34", "ResNet-34: 3-4-6-3 residual units of 64-512 filters", default_size=32)
def resnet34(in_channels: int, num_classes: int, image_size: int) -> Backbone:
    layers: list[nn.Module] = [stem(in_channels, 64, image_size)]
    cin = 64
    for cout, units in ((64, 3), (128, 4), (256, 6), (512, 3)):
        for i in range(units):
            layers.append(ResidualUnit(cin, cout, 2 if i == 0 and cout != 64 else 1))
            cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return Backbone(nn.Sequential(*layers), nn.Sequential(nn.Linear(512, num_classes)))


class InceptionModule(nn.Module):
    """Parallel 1x1, 1x1->3x3, 1x1->5x5 and maxpool->1x1 branches, concatenated on channels."""

    def __init__(self, cin: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, pool: int) -> None:
        super().__init__()
        self.b1 = conv_bn(cin, c1, 1)
        self.b3 = nn.Sequential(conv_bn(cin, c3r, 1), conv_bn(c3r, c3, 3))
        self.b5 = nn.Sequential(conv_bn(cin, c5r, 1), conv_bn(c5r, c5, 5))
        self.bp = nn.Sequential(nn.MaxPool2d(3, 1, padding=1), conv_bn(cin, pool, 1))
        self.out_channels = c1 + c3 + c5 + pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b3(x), self.b5(x), self.bp(x)], 1)  # (N, out_channels, H, W)


@register_model("inception-small", "GoogLeNet-style inception modules with 1x1 bottlenecks", default_size=32)
def inception_small(in_channels: int, num_classes: int, image_size: int) -> Backbone:
    # Module widths follow GoogLeNet's 3a/3b/4a/4b/5a, halved.
    widths = [(32, 48, 64, 8, 16, 16), (64, 64, 96, 16, 48, 32), "pool", (96, 48, 104, 8, 24, 32),
              (80, 56, 112, 12, 32, 32), "pool", (128, 80, 160, 16, 64, 64)]
    layers: list[nn.Module] = [stem(in_channels, 64, image_size), conv_bn(64, 96, 3)]
    cin = 96
    for w in widths:
        if w == "pool":
            layers.append(nn.MaxPool2d(3, 2, padding=1))
            continue
        module = InceptionModule(cin, *w)
        layers.append(module)
        cin = module.out_channels
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return Backbone(nn.Sequential(*layers), nn.Sequential(nn.Dropout(0.4), nn.Linear(cin, num_classes)))


def separable(cin: int, cout: int) -> nn.Sequential:
    """Depthwise 3x3 then pointwise 1x1, then BatchNorm."""
    return nn.Sequential(nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False),
                         nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))


class XceptionBlock(nn.Module):
    """[ReLU, SepConv] x n (+ MaxPool 3 stride 2 when downsampling) plus a (projected) residual."""

    def __init__(self, cin: int, cout: int, repeats: int, downsample: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(repeats):
            layers += [nn.ReLU(), separable(cin if i == 0 else cout, cout)]
        if downsample:
            layers.append(nn.MaxPool2d(3, 2, padding=1))
        self.main = nn.Sequential(*layers)
        stride = 2 if downsample else 1
        self.skip = conv_bn(cin, cout, 1, stride, relu=False) if downsample or cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x) + self.skip(x)


@register_model("xception-small", "Xception-style: depthwise separable convs with residual blocks",
                default_size=32)
def xception_small(in_channels: int, num_classes: int, image_size: int) -> Backbone:
    layers: list[nn.Module] = [stem(in_channels, 32, image_size), conv_bn(32, 64, 3)]
    layers += [XceptionBlock(64, 128, 2, True), XceptionBlock(128, 256, 2, True)]  # entry flow
    layers += [XceptionBlock(256, 256, 3, False) for _ in range(4)]  # middle flow
    layers += [XceptionBlock(256, 384, 2, True), separable(384, 512), nn.ReLU(inplace=True)]  # exit flow
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return Backbone(nn.Sequential(*layers), nn.Sequential(nn.Linear(512, num_classes)))
