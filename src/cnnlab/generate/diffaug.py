"""Differentiable augmentation for GANs on small data (Zhao et al. 2020, arXiv 2006.10738): the discriminator only
ever sees augmented images, real and generated alike, in both rounds, and the gradient reaches the generator
through the augmentation. Augmenting only the real images (the seed's flip, zoom and rotation) teaches the
generator to make augmented-looking images; augmenting both does not.

Images are float (B, C, H, W) in [0, 1]. Each image gets its own random parameters; `pair` gives real[i] and
fake[i] the same parameters, so within a step the two halves are transformed identically and the discriminator
cannot tell them apart by their augmentation."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cnnlab.errors import ConfigError
from cnnlab.options import said

OPS = ("color", "translation", "cutout")  # the paper's recipe, in its order
TRANSLATE = 1 / 8  # shift of up to this share of the side, either way (the paper's)
CUTOUT = 1 / 2  # side of the blanked square, as a share of the image's side (the paper's)


def parse_policy(text: str) -> tuple[str, ...]:
    """'color,translation,cutout' -> the ops in order; 'none' or '' -> (); ConfigError for an unknown op."""
    if not isinstance(text, str):
        raise ConfigError(f"{said('diffaug')} must be none or a list of {', '.join(OPS)}, got {text!r}")
    ops = tuple(p.strip() for p in text.split(",") if p.strip() and p.strip() != "none")
    unknown = [p for p in ops if p not in OPS]
    if unknown or len(set(ops)) != len(ops):
        raise ConfigError(f"{said('diffaug')} takes none or a comma-separated list of {', '.join(OPS)} (each once), "
                          f"got {text!r}")
    return ops


def draw(n: int, ops: tuple[str, ...], size: int, g: torch.Generator, device: torch.device) -> dict[str, torch.Tensor]:
    """The random parameters of n images' augmentation."""
    params: dict[str, torch.Tensor] = {}

    def rand(*shape):
        return torch.rand(*shape, generator=g, device=device)

    if "color" in ops:
        params["brightness"] = (rand(n, 1, 1, 1) - 0.5) * 0.5  # added: the paper's +-0.5 on [-1, 1] is +-0.25 here
        params["saturation"] = rand(n, 1, 1, 1) * 2  # 0 (grey) to 2x
        params["contrast"] = rand(n, 1, 1, 1) + 0.5  # 0.5x to 1.5x
    if "translation" in ops:
        shift = int(size * TRANSLATE + 0.5)
        params["shift"] = torch.randint(-shift, shift + 1, (n, 2), generator=g, device=device)
    if "cutout" in ops:
        side = int(size * CUTOUT + 0.5)
        params["cutout"] = torch.randint(0, size + (1 - side % 2), (n, 2), generator=g, device=device)
    return params


def apply(x: torch.Tensor, ops: tuple[str, ...], params: dict[str, torch.Tensor]) -> torch.Tensor:
    """x (B, C, H, W) augmented with `params` (drawn for B images); differentiable in x."""
    for op in ops:
        x = _OPS[op](x, params)
    return x


def _color(x: torch.Tensor, p: dict) -> torch.Tensor:
    x = x + p["brightness"]
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * p["saturation"] + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * p["contrast"] + mean


def _translation(x: torch.Tensor, p: dict) -> torch.Tensor:
    """Shift each image by whole pixels, filling with black (0), by gathering from a padded copy."""
    b, _, h, w = x.shape
    shift = p["shift"]  # (B, 2): rows, columns
    pad = int(h * TRANSLATE + 0.5)  # the largest shift drawn: no wait for the device to read the draws
    if pad == 0 or not shift.numel():
        return x
    # (B, H) rows to read in the padded copy; a larger shift than the padding reads the black border
    rows = (torch.arange(h, device=x.device).view(1, h) - shift[:, :1] + pad).clamp(0, h + 2 * pad - 1)
    cols = (torch.arange(w, device=x.device).view(1, w) - shift[:, 1:] + pad).clamp(0, w + 2 * pad - 1)  # (B, W)
    padded = F.pad(x, (pad, pad, pad, pad))  # (B, C, H + 2p, W + 2p)
    out = padded.gather(2, rows.view(b, 1, h, 1).expand(-1, x.shape[1], -1, padded.shape[3]))  # (B, C, H, W + 2p)
    return out.gather(3, cols.view(b, 1, 1, w).expand(-1, x.shape[1], h, -1))  # (B, C, H, W)


def _cutout(x: torch.Tensor, p: dict) -> torch.Tensor:
    """Blank a square of half the side at a random centre (clipped at the border)."""
    _, _, h, w = x.shape
    side = int(h * CUTOUT + 0.5)
    centre = p["cutout"]  # (B, 2)
    r = torch.arange(h, device=x.device).view(1, h) - centre[:, :1] + side // 2  # (B, H): row inside the square
    c = torch.arange(w, device=x.device).view(1, w) - centre[:, 1:] + side // 2  # (B, W)
    inside = ((r >= 0) & (r < side)).unsqueeze(2) & ((c >= 0) & (c < side)).unsqueeze(1)  # (B, H, W)
    return x * (~inside).unsqueeze(1).to(x.dtype)


_OPS = {"color": _color, "translation": _translation, "cutout": _cutout}


def augment(x: torch.Tensor, ops: tuple[str, ...], g: torch.Generator) -> torch.Tensor:
    """Each image of x with its own random augmentation; x itself when ops is empty."""
    if not ops:
        return x
    return apply(x, ops, draw(len(x), ops, x.shape[-1], g, x.device))


def augment_pair(real: torch.Tensor, fake: torch.Tensor, ops: tuple[str, ...], g: torch.Generator
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """real and fake (B, C, H, W), image i of each with the same random augmentation."""
    if not ops:
        return real, fake
    if real.shape != fake.shape:
        raise ValueError(f"real {tuple(real.shape)} and fake {tuple(fake.shape)} batches differ")
    params = draw(len(real), ops, real.shape[-1], g, real.device)
    both = apply(torch.cat([real, fake]), ops, {k: torch.cat([v, v]) for k, v in params.items()})
    return both[: len(real)], both[len(real):]
