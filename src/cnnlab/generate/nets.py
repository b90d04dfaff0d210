"""The seed's DCGAN networks. Images are float (N, C, S, S) in [0, 1] (the generators end in a sigmoid);
S is 32 or 64, and every network starts or ends at S/8 x S/8 with 128 channels (8x8x128 = 8192 at 64)."""

from __future__ import annotations

import torch
from torch import nn

from cnnlab.errors import ModelError
from cnnlab.registry import Registry

SIZES = (32, 64)
GENERATORS: Registry = Registry("generator")


def widths(filters: tuple[int, ...], width: float) -> tuple[int, ...]:
    """The seed's filter counts scaled by `width` (1.0 = the seed's; smaller for quick CPU runs)."""
    return tuple(max(4, round(f * width)) for f in filters)


def check_size(image_size: int) -> int:
    if image_size not in SIZES:
        raise ModelError(f"the DCGAN networks take {' or '.join(map(str, SIZES))} px images, not {image_size}")
    return image_size // 8


class Discriminator(nn.Module):
    """Three blocks of Conv 4x4 stride 2 'same' (64, 128, 128 filters) + BatchNorm + LeakyReLU 0.2, then
    Flatten, Dropout 0.2 and Dense 1: a logit per image (the seed's sigmoid is in the loss).
    spectral_norm: every conv and the dense layer spectrally normalised (Miyato et al. 2018), without BatchNorm,
    as in SN-GAN: the normalisation takes BatchNorm's place, and images are judged one by one."""

    def __init__(self, image_size: int = 64, channels: int = 3, filters: tuple[int, ...] = (64, 128, 128),
                 dropout: float = 0.2, width: float = 1.0, spectral_norm: bool = False) -> None:
        super().__init__()
        side = check_size(image_size)
        sn = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda m: m)
        self.batch_norm = not spectral_norm  # with BatchNorm an image's logit depends on its batch
        layers: list[nn.Module] = []
        c = channels
        for f in widths(filters, width):
            norm = nn.BatchNorm2d(f) if self.batch_norm else nn.Identity()
            layers += [sn(nn.Conv2d(c, f, 4, stride=2, padding=1)), norm, nn.LeakyReLU(0.2, inplace=True)]
            c = f
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), sn(nn.Linear(c * side * side, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(1)  # (N, C, S, S) -> (N,)


class _Generator(nn.Module):
    def __init__(self, latent_dim: int, image_size: int, channels: int) -> None:
        super().__init__()
        self.latent_dim, self.image_size, self.channels = latent_dim, image_size, channels
        self.side = check_size(image_size)
        self.project = nn.Linear(latent_dim, 128 * self.side * self.side)

    def start(self, z: torch.Tensor) -> torch.Tensor:
        return self.project(z).view(-1, 128, self.side, self.side)  # (N, latent) -> (N, 128, S/8, S/8)


@GENERATORS.register("transposed")
class TransposedGenerator(_Generator):
    """Dense 128*(S/8)^2 -> (128, S/8, S/8) -> ConvTranspose 4x4 stride 2 blocks of 128, 256, 512 filters with
    LeakyReLU 0.2 -> Conv 5x5 to C channels, sigmoid."""

    def __init__(self, latent_dim: int = 128, image_size: int = 64, channels: int = 3,
                 filters: tuple[int, ...] = (128, 256, 512), width: float = 1.0) -> None:
        super().__init__(latent_dim, image_size, channels)
        layers: list[nn.Module] = []
        c = 128
        for f in widths(filters, width):
            layers += [nn.ConvTranspose2d(c, f, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            c = f
        self.body = nn.Sequential(*layers, nn.Conv2d(c, channels, 5, padding=2), nn.Sigmoid())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.start(z))  # (N, latent) -> (N, C, S, S)


@GENERATORS.register("upsampling")
class UpsamplingGenerator(_Generator):
    """Dense 128*(S/8)^2 -> (128, S/8, S/8) -> three blocks of UpSampling x2 + two (Conv 3x3 + BatchNorm +
    LeakyReLU 0.2) with 64, 128, 256 filters -> Conv 5x5 to C channels, sigmoid."""

    def __init__(self, latent_dim: int = 128, image_size: int = 64, channels: int = 3,
                 filters: tuple[int, ...] = (64, 128, 256), width: float = 1.0) -> None:
        super().__init__(latent_dim, image_size, channels)
        layers: list[nn.Module] = []
        c = 128
        for f in widths(filters, width):
            layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
            for i in range(2):
                layers += [nn.Conv2d(c if i == 0 else f, f, 3, padding=1), nn.BatchNorm2d(f),
                           nn.LeakyReLU(0.2, inplace=True)]
            c = f
        self.body = nn.Sequential(*layers, nn.Conv2d(c, channels, 5, padding=2), nn.Sigmoid())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.start(z))  # (N, latent) -> (N, C, S, S)


def create_generator(name: str, latent_dim: int, image_size: int, channels: int, width: float = 1.0) -> _Generator:
    return GENERATORS.get(name)(latent_dim=latent_dim, image_size=image_size, channels=channels, width=width)
