"""Sample grids of a GAN run, written atomically: the fixed-noise grid of an epoch, strips and interpolations."""

from __future__ import annotations

from pathlib import Path

import torch

from cnnlab.atomic import replacing
from cnnlab.report.plots import save_image_grid

FIXED_SAMPLES = (4, 6)  # the fixed noise batch of 24, drawn as 4 rows of 6


def save_grid(grid: torch.Tensor, path, **labels) -> None:
    """save_image_grid (grid (R, K, C, S, S) in [0, 1]) written to a temporary file beside `path`, then renamed:
    an interrupted write never leaves half an image."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as tmp:
        save_image_grid(grid, tmp, **labels)


def save_sample_grid(images: torch.Tensor, path, rows: int = FIXED_SAMPLES[0]) -> None:
    """(N, C, S, S) in [0, 1] -> a PNG of `rows` rows, blank (white) cells filling the last one."""
    cols = -(-len(images) // rows)
    pad = rows * cols - len(images)
    if pad:
        images = torch.cat([images, torch.ones(pad, *images.shape[1:])])
    save_grid(images.view(rows, cols, *images.shape[1:]), path)
