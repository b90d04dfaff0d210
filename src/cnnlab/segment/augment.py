"""Joint augmentation: the same random flip, rotation, scale and shift for an image and its mask.

Images are resampled bilinearly, masks with nearest neighbour only, from one affine grid per sample,
so the two stay aligned pixel for pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from cnnlab.checks import check_number
from cnnlab.data.augment import affine_grid
from cnnlab.errors import ConfigError


@dataclass(frozen=True)
class JointAugment:
    hflip: bool = True
    vflip: bool = False
    rotation: float = 10.0  # degrees either way
    zoom: float = 0.1  # relative scale either way
    shift: float = 0.1  # fraction of the side

    def __post_init__(self) -> None:
        for flag in ("hflip", "vflip"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"augment {flag} must be true or false, got {getattr(self, flag)!r}")
        check_number("rotation", self.rotation, low=0, high=180)
        check_number("zoom", self.zoom, low=0, high=1, high_open=True)
        check_number("shift", self.shift, low=0, high=1, high_open=True)

    @property
    def enabled(self) -> bool:
        return bool(self.hflip or self.vflip or self.rotation or self.zoom or self.shift)


NONE = JointAugment(False, False, 0.0, 0.0, 0.0)


def joint_augment(x: torch.Tensor, mask: torch.Tensor, cfg: JointAugment,
                  g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """x float (N, C, H, W) in [0, 1], mask int64 (N, H, W) -> both transformed alike."""
    if not cfg.enabled or len(x) == 0:
        return x, mask
    n, device = x.shape[0], x.device

    def uniform(magnitude: float) -> torch.Tensor:
        return (torch.rand(n, generator=g, device=device) * 2 - 1) * magnitude

    def flip(on: bool) -> torch.Tensor:  # -1 mirrors the axis, for half the samples
        if not on:
            return torch.ones(n, device=device)
        return torch.where(torch.rand(n, generator=g, device=device) < 0.5, -1.0, 1.0)

    sx, sy = flip(cfg.hflip), flip(cfg.vflip)
    angle, scale = uniform(math.radians(cfg.rotation)), 1 + uniform(cfg.zoom)
    tx, ty = uniform(2 * cfg.shift), uniform(2 * cfg.shift)
    grid = affine_grid(x, angle, scale, tx, ty, sx, sy)  # (N, H, W, 2)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    m = F.grid_sample(mask[:, None].to(x.dtype), grid, mode="nearest", padding_mode="border", align_corners=False)
    return x, m[:, 0].round().long()
