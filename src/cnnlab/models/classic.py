"""The seed labs' plain CNNs: the baseline CNN, the Fashion-MNIST lecture net, LeNet-5 and an AlexNet-style net."""

from __future__ import annotations

from torch import nn

from cnnlab.models.base import Backbone, flat_size
from cnnlab.models.entries import register_model


@register_model("baseline-cnn", "the seed's 3-conv CNN; 122,570 parameters on 32x32x3", default_size=32)
def baseline_cnn(in_channels: int, num_classes: int, image_size: int, *, filters: tuple[int, ...] = (32, 64, 64),
                 kernel: int = 3, dense: int = 64) -> Backbone:
    """Conv(f0, k, valid)+ReLU, then [MaxPool 2, Conv(f, k)+ReLU] for each further f, Flatten, Dense, Dense.

    The defaults are the seed's (Conv 32/64/64 3x3, Dense 64); `filters`, `kernel` and `dense` vary the
    depth, kernel size and dense width for the sweep exercise.
    """
    layers: list[nn.Module] = []
    channels = in_channels
    for i, f in enumerate(filters):
        if i:
            layers.append(nn.MaxPool2d(2))
        layers += [nn.Conv2d(channels, f, kernel), nn.ReLU(inplace=True)]
        channels = f
    features = nn.Sequential(*layers)
    n = flat_size(features, in_channels, image_size)
    head = nn.Sequential(nn.Flatten(), nn.Linear(n, dense), nn.ReLU(inplace=True), nn.Linear(dense, num_classes))
    return Backbone(features, head)


def _conv(cin: int, cout: int, k: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, padding="same"), nn.ReLU(inplace=True)]


@register_model("fashion-cnn", "the Fashion-MNIST lecture net (Conv 64 7x7, 2x128, 2x256, Dense 128/64)",
                default_size=28)
def fashion_cnn(in_channels: int, num_classes: int, image_size: int) -> Backbone:
    features = nn.Sequential(
        *_conv(in_channels, 64, 7), nn.MaxPool2d(2),
        *_conv(64, 128, 3), *_conv(128, 128, 3), nn.MaxPool2d(2),
        *_conv(128, 256, 3), *_conv(256, 256, 3), nn.MaxPool2d(2),
    )
    n = flat_size(features, in_channels, image_size)
    head = nn.Sequential(
        nn.Flatten(), nn.Linear(n, 128), nn.ReLU(inplace=True), nn.Dropout(0.5),
        nn.Linear(128, 64), nn.ReLU(inplace=True), nn.Dropout(0.5), nn.Linear(64, num_classes),
    )
    return Backbone(features, head)


@register_model("lenet5", "LeNet-5 (LeCun 1998): tanh, average pooling, 6-16-120 filters", default_size=32)
def lenet5(in_channels: int, num_classes: int, image_size: int) -> Backbone:
    # The 1998 net takes 32x32; smaller inputs (MNIST's 28x28) get 'same' padding on the first conv, as usual.
    pad = 2 if image_size < 32 else 0
    features = nn.Sequential(
        nn.Conv2d(in_channels, 6, 5, padding=pad), nn.Tanh(), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),
        nn.Conv2d(16, 120, 5), nn.Tanh(),
    )
    n = flat_size(features, in_channels, image_size)
    head = nn.Sequential(nn.Flatten(), nn.Linear(n, 84), nn.Tanh(), nn.Linear(84, num_classes))
    return Backbone(features, head)


@register_model("alexnet-small", "AlexNet's shape (5 convs, 3 dense, dropout) scaled to small images",
                default_size=32)
def alexnet_small(in_channels: int, num_classes: int, image_size: int) -> Backbone:
    def block(cin: int, cout: int, k: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, k, padding="same", bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    features = nn.Sequential(
        *block(in_channels, 64, 5), nn.MaxPool2d(3, 2, padding=1),
        *block(64, 192, 5), nn.MaxPool2d(3, 2, padding=1),
        *block(192, 384, 3), *block(384, 256, 3), *block(256, 256, 3), nn.MaxPool2d(3, 2, padding=1),
    )
    n = flat_size(features, in_channels, image_size)
    head = nn.Sequential(
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(n, 1024), nn.ReLU(inplace=True),
        nn.Dropout(0.5), nn.Linear(1024, 512), nn.ReLU(inplace=True), nn.Linear(512, num_classes),
    )
    return Backbone(features, head)
