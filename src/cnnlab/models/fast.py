"""`airnet`: the fast recipe's network, written here from the ideas the airbench paper publishes
(Jordan 2024, arXiv 2404.00498): a frozen first layer that whitens 2x2 patches of the training images,
three conv groups (conv, max-pool, BatchNorm, GELU, conv, BatchNorm, GELU) of 64, 256 and 256 filters,
BatchNorm without learnt scale, a global max-pool and a bias-free linear layer on features scaled by 1/9.
About 1.9 M parameters on 32x32x3; on CIFAR-10 it wants a large batch, SGD with Nesterov momentum, label
smoothing, flip-and-translate augmentation and a weight average (`cnnlab classify train --recipe fast`).
"""

from __future__ import annotations

import torch
from torch import nn

from cnnlab.models.base import Backbone
from cnnlab.models.entries import register_model


def freeze(p: nn.Parameter) -> nn.Parameter:
    """A parameter that stays fixed whatever part of the model a training phase unfreezes."""
    p.requires_grad_(False)
    p.cnnlab_frozen = True
    return p


class Whitening(nn.Conv2d):
    """A k x k convolution (no padding) whose 2*C*k*k filters are fixed by the data: the eigenvectors of the
    covariance of the training images' k x k patches, each divided by the square root of its eigenvalue, and
    their negations. Its output patches are decorrelated with unit variance; its bias still learns."""

    def __init__(self, in_channels: int, kernel: int = 2, eps: float = 5e-4) -> None:
        dim = in_channels * kernel * kernel
        super().__init__(in_channels, 2 * dim, kernel, padding=0, bias=True)
        self.eps = eps
        freeze(self.weight)

    @torch.no_grad()
    def fit_to_images(self, x: torch.Tensor) -> None:
        """x: float (N, C, H, W), preprocessed as the network sees it."""
        k = self.kernel_size[0]
        patches = x.unfold(2, k, 1).unfold(3, k, 1)  # (N, C, H', W', k, k)
        patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, self.in_channels * k * k).double()
        patches = patches - patches.mean(0)
        values, vectors = torch.linalg.eigh(patches.T @ patches / len(patches))
        filters = (vectors.T / (values.clamp(min=0) + self.eps).sqrt()[:, None]).view(-1, self.in_channels, k, k)
        self.weight.copy_(torch.cat([filters, -filters]).to(self.weight))


def _norm(channels: int) -> nn.BatchNorm2d:
    bn = nn.BatchNorm2d(channels, eps=1e-12, momentum=0.4)  # statistics follow the fast schedule closely
    freeze(bn.weight)  # scale fixed at 1: the following conv sets it, and weight decay cannot shrink it
    return bn


class ConvGroup(nn.Sequential):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.MaxPool2d(2), _norm(cout), nn.GELU(),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), _norm(cout), nn.GELU())
        for conv in (self[0], self[4]):  # identity-like start: the first filters pass their input through
            nn.init.dirac_(conv.weight[: min(conv.in_channels, conv.out_channels)])


class Scale(nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor


@register_model("airnet", "the fast recipe's net: whitening 2x2 layer, conv groups 64/256/256, ~1.9M parameters",
                default_size=32, weight_decay=5e-4)
def airnet(in_channels: int, num_classes: int, image_size: int, *,
           widths: tuple[int, ...] = (64, 256, 256), scale: float = 1 / 9) -> Backbone:
    whiten = Whitening(in_channels)
    layers: list[nn.Module] = [whiten, nn.GELU()]
    c = whiten.out_channels
    for w in widths:
        layers.append(ConvGroup(c, w))
        c = w
    features = nn.Sequential(*layers, nn.AdaptiveMaxPool2d(1))
    head = nn.Sequential(nn.Flatten(), Scale(scale), nn.Linear(c, num_classes, bias=False))
    return Backbone(features, head)
