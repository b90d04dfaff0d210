"""Augmentation that moves boxes with the image: flip, scale (zoom in is a crop, zoom out a border), shift, and
colour jitter, each image its own random draw, on whole batches.

One affine map per image, without rotation, so an axis-aligned box stays axis-aligned: the image is resampled
through the map and the box corners go through its inverse, then are clipped to the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from cnnlab.checks import check_number
from cnnlab.errors import ConfigError


@dataclass(frozen=True)
class BoxAugment:
    hflip: bool = True
    scale: float = 0.15  # relative zoom either way: > 1 crops in, < 1 shrinks the image into a border
    shift: float = 0.1  # fraction of the side either way
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2

    def __post_init__(self) -> None:
        if not isinstance(self.hflip, bool):
            raise ConfigError(f"augment hflip must be true or false, got {self.hflip!r}")
        check_number("scale", self.scale, low=0, high=0.5)
        check_number("shift", self.shift, low=0, high=0.5)
        for name in ("brightness", "contrast", "saturation"):
            check_number(name, getattr(self, name), low=0, high=1)

    @property
    def enabled(self) -> bool:
        return bool(self.hflip or self.scale or self.shift or self.brightness or self.contrast or self.saturation)


NO_AUGMENT = BoxAugment(False, 0.0, 0.0, 0.0, 0.0, 0.0)


def _uniform(n: int, magnitude: float, g: torch.Generator, device) -> torch.Tensor:
    return (torch.rand(n, generator=g, device=device) * 2 - 1) * magnitude


def move_boxes(targets: torch.Tensor, a: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Boxes (N, M, 5) through the inverse of the per-image map input = a * output + t (in [-1, 1] units; a, t
    (N, 2) for x and y), clipped to the image. Padding rows (class -1) are left alone."""
    out = targets.clone()
    for axis, (lo, hi) in enumerate(((1, 3), (2, 4))):
        ends = torch.stack([targets[..., lo], targets[..., hi]], -1) * 2 - 1  # (N, M, 2) in [-1, 1]
        moved = (ends - t[:, None, None, axis]) / a[:, None, None, axis]
        moved = ((moved.sort(-1).values + 1) / 2).clamp(0, 1)  # a flip swaps the ends
        out[..., lo], out[..., hi] = moved[..., 0], moved[..., 1]
    return torch.where(targets[..., :1] >= 0, out, targets)


def colour_jitter(x: torch.Tensor, cfg: BoxAugment, g: torch.Generator) -> torch.Tensor:
    """Brightness, contrast and saturation factors per image; x float (N, C, H, W) in [0, 1]."""
    n, device = len(x), x.device
    x = x * (1 + _uniform(n, cfg.brightness, g, device)).view(-1, 1, 1, 1)
    mean = x.mean((1, 2, 3), keepdim=True)
    x = (x - mean) * (1 + _uniform(n, cfg.contrast, g, device)).view(-1, 1, 1, 1) + mean
    if x.shape[1] == 3:
        gray = (x * torch.tensor([0.299, 0.587, 0.114], device=device).view(1, 3, 1, 1)).sum(1, keepdim=True)
        x = (x - gray) * (1 + _uniform(n, cfg.saturation, g, device)).view(-1, 1, 1, 1) + gray
    return x.clamp(0, 1)


def _loses_objects(before: torch.Tensor, after: torch.Tensor, zoom: torch.Tensor) -> torch.Tensor:
    """(N,) whether a move cuts more than half of any real box off the image."""
    def area(b):
        return (b[..., 3] - b[..., 1]) * (b[..., 4] - b[..., 2])

    kept = area(after) / (area(before) * zoom[:, None] ** 2).clamp_min(1e-12)
    return ((kept < 0.5) & (before[..., 0] >= 0)).any(1)


def augment_boxes(x: torch.Tensor, targets: torch.Tensor, cfg: BoxAugment,
                  g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """x float (N, C, H, W) in [0, 1], targets (N, M, 5) -> both moved alike, then the colours jittered."""
    if not cfg.enabled or len(x) == 0:
        return x, targets
    n, device = len(x), x.device
    flip = torch.where(torch.rand(n, generator=g, device=device) < 0.5, -1.0, 1.0) if cfg.hflip else \
        torch.ones(n, device=device)
    zoom = 1 + _uniform(n, cfg.scale, g, device)  # > 1: the object looks larger
    a = torch.stack([flip / zoom, 1 / zoom], 1)  # (N, 2)
    t = torch.stack([_uniform(n, 2 * cfg.shift, g, device), _uniform(n, 2 * cfg.shift, g, device)], 1)
    lost = _loses_objects(targets, move_boxes(targets, a, t), zoom)
    a = torch.where(lost[:, None], torch.stack([flip, torch.ones_like(flip)], 1), a)  # these only flip
    t = torch.where(lost[:, None], torch.zeros_like(t), t)
    zero = torch.zeros(n, device=device)
    theta = torch.stack([torch.stack([a[:, 0], zero, t[:, 0]], 1), torch.stack([zero, a[:, 1], t[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)  # (N, H, W, 2)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return colour_jitter(x, cfg, g), move_boxes(targets, a, t)
