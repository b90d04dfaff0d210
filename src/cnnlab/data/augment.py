"""Train-time augmentation as batched tensor ops, each sample with its own random parameters.

torchvision's v2 transforms draw one set of parameters per call, so a batch would share them; here one
affine grid and a few elementwise ops per batch give every image its own flip, rotation, zoom, shift and
colour change. The same code runs on CPU and GPU, and the same generator state gives the same result.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from cnnlab.data.augment_spec import DEFAULTS, INTEGER, PRESETS, AugmentConfig, parse_augment

__all__ = ["DEFAULTS", "INTEGER", "PRESETS", "AugmentConfig", "parse_augment", "augment_batch", "preview_grid"]


def _uniform(n: int, magnitude: float, g: torch.Generator, device) -> torch.Tensor:
    """n values drawn uniformly from [-magnitude, magnitude]."""
    return (torch.rand(n, generator=g, device=device) * 2 - 1) * magnitude


def _gray(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) -> (N, 1, H, W) luma."""
    weights = torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * weights).sum(1, keepdim=True)


def augment_batch(x: torch.Tensor, cfg: AugmentConfig, g: torch.Generator) -> torch.Tensor:
    """Augment float images (N, C, H, W) in [0, 1]; returns a new tensor of the same shape and range.

    `g` must live on x's device; the same generator state gives the same output.
    """
    if not cfg.enabled or len(x) == 0:
        return x
    n, device = x.shape[0], x.device
    if cfg.hflip:
        x = torch.where(torch.rand(n, 1, 1, 1, generator=g, device=device) < 0.5, x.flip(-1), x)
    if cfg.vflip:
        x = torch.where(torch.rand(n, 1, 1, 1, generator=g, device=device) < 0.5, x.flip(-2), x)
    if cfg.translate:
        x = _translate(x, cfg.translate, g)
    if cfg.rotation or cfg.zoom or cfg.shift:
        x = _affine(x, cfg, g)
    x = _colour(x, cfg, g)
    if cfg.cutout:
        x = _cutout(x, cfg.cutout, g)
    return x.clamp(0, 1)


def _colour(x: torch.Tensor, cfg: AugmentConfig, g: torch.Generator) -> torch.Tensor:
    """Brightness, contrast, saturation and random grayscale, per sample."""
    n, device = x.shape[0], x.device
    if cfg.brightness:
        x = x * (1 + _uniform(n, cfg.brightness, g, device)).view(n, 1, 1, 1)
    if cfg.contrast:
        mean = (_gray(x) if x.shape[1] == 3 else x).mean((1, 2, 3), keepdim=True)
        x = (x - mean) * (1 + _uniform(n, cfg.contrast, g, device)).view(n, 1, 1, 1) + mean
    if x.shape[1] == 3 and cfg.saturation:
        gray = _gray(x)
        x = (x - gray) * (1 + _uniform(n, cfg.saturation, g, device)).view(n, 1, 1, 1) + gray
    if x.shape[1] == 3 and cfg.grayscale:
        pick = torch.rand(n, 1, 1, 1, generator=g, device=device) < cfg.grayscale
        x = torch.where(pick, _gray(x).expand_as(x), x)
    return x


def _translate(x: torch.Tensor, pixels: int, g: torch.Generator) -> torch.Tensor:
    """Per-sample whole-pixel shift by -pixels..pixels on each axis: mirror-pad, then crop at a random offset
    (one gather for the whole batch)."""
    n, _, h, w = x.shape
    pixels = min(pixels, h - 1, w - 1)  # reflect padding needs pad < side
    padded = F.pad(x, (pixels,) * 4, mode="reflect")
    dy = torch.randint(0, 2 * pixels + 1, (n, 1), generator=g, device=x.device)
    dx = torch.randint(0, 2 * pixels + 1, (n, 1), generator=g, device=x.device)
    rows = (torch.arange(h, device=x.device) + dy)[:, None, :, None]  # (N, 1, H, 1)
    cols = (torch.arange(w, device=x.device) + dx)[:, None, None, :]  # (N, 1, 1, W)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chans = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, chans, rows, cols]  # (N, C, H, W)


def _cutout(x: torch.Tensor, side: int, g: torch.Generator) -> torch.Tensor:
    """Per-sample square of `side` pixels (centre anywhere in the image, clipped at the edges) set to 0.5."""
    n, _, h, w = x.shape
    top = torch.randint(0, h, (n, 1, 1), generator=g, device=x.device) - side // 2
    left = torch.randint(0, w, (n, 1, 1), generator=g, device=x.device) - side // 2
    ys, xs = torch.arange(h, device=x.device)[None, :, None], torch.arange(w, device=x.device)[None, None, :]
    inside = (ys >= top) & (ys < top + side) & (xs >= left) & (xs < left + side)  # (N, H, W)
    return torch.where(inside[:, None], torch.full_like(x, 0.5), x)


def _affine(x: torch.Tensor, cfg: AugmentConfig, g: torch.Generator) -> torch.Tensor:
    """Per-sample rotation, zoom and shift in one grid_sample; edges repeat the border (Keras 'nearest')."""
    n, device = x.shape[0], x.device
    angle = _uniform(n, math.radians(cfg.rotation), g, device)
    scale = 1 + _uniform(n, cfg.zoom, g, device)  # >1 zooms in
    shift = _uniform(2 * n, 2 * cfg.shift, g, device).view(n, 2)  # grid units span 2 per side
    grid = affine_grid(x, angle, scale, shift[:, 0], shift[:, 1])
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def affine_grid(x: torch.Tensor, angle: torch.Tensor, scale: torch.Tensor, tx: torch.Tensor, ty: torch.Tensor,
                sx: torch.Tensor | None = None, sy: torch.Tensor | None = None) -> torch.Tensor:
    """The sampling grid (N, H, W, 2) that rotates each image of x (N, C, H, W) by `angle` (radians), scales it
    by `scale` (> 1 zooms in), shifts it by (tx, ty) (grid units: 2 span a side) and mirrors it where sx / sy
    is -1; all (N,). One grid serves an image and its mask alike (the joint augmentation of segmentation)."""
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    sx = torch.ones_like(cos) if sx is None else sx
    sy = torch.ones_like(cos) if sy is None else sy
    theta = torch.stack([torch.stack([cos * sx, -sin * sy, tx], 1), torch.stack([sin * sx, cos * sy, ty], 1)], 1)
    return F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)  # (N, H, W, 2)


def preview_grid(images: torch.Tensor, cfg: AugmentConfig, *, variants: int = 8, seed: int = 0) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float (N, 1 + variants, C, H, W): each original followed by augmented copies."""
    g = torch.Generator().manual_seed(seed)
    x = images.float() / 255
    rows = [x] + [augment_batch(x, cfg, g) for _ in range(variants)]
    return torch.stack(rows, 1)
