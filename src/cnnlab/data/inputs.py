"""Images as a caller hands them to `cnnlab.load(...).predict`: files, folders, PIL images, arrays and tensors,
one at a time or in a list, single images or batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cnnlab.data.folders import collect_image_paths
from cnnlab.data.pixels import normalize, open_image
from cnnlab.errors import DataError


def expand(images) -> list:
    """The single images in `images`: a path (a folder gives every image in it), a PIL image, an array (H, W[, C])
    or a tensor (C, H, W), a batch ((N, C, H, W) tensor or (N, H, W, C) array), or a list or tuple of these."""
    items = list(images) if isinstance(images, list | tuple) else [images]
    out: list = []
    for item in items:
        if isinstance(item, str | Path):
            out += collect_image_paths([item])
        elif isinstance(item, np.ndarray | torch.Tensor) and item.ndim == 4:
            out += list(item)  # a batch: (N, C, H, W) tensor or (N, H, W, C) array
        else:
            out.append(item)
    return out


def open_item(item, index: int, mode: str) -> tuple[str, Image.Image]:
    """(source, the image in `mode`, 'L' or 'RGB', at its own size) of a path, a PIL image, an array (H, W[, C]),
    uint8 or float in [0, 1], or a tensor (C, H, W); the source is the path, or "image N" for an object."""
    if isinstance(item, str | Path):
        return str(item), open_image(Path(item), mode)
    if isinstance(item, Image.Image):
        return f"image {index}", normalize(item, mode=mode)
    if isinstance(item, np.ndarray | torch.Tensor):
        array = item.detach().cpu().numpy() if isinstance(item, torch.Tensor) else item
        if isinstance(item, torch.Tensor) and array.ndim == 3:
            array = array.transpose(1, 2, 0)  # (C, H, W) -> (H, W, C)
        if array.dtype != np.uint8:
            array = (np.clip(array, 0, 1) * 255).round().astype(np.uint8)  # floats are taken as [0, 1]
        try:
            return f"image {index}", normalize(Image.fromarray(array.squeeze()), mode=mode)
        except (TypeError, ValueError):
            raise DataError(f"image {index} is an array of shape {tuple(array.shape)}; give (H, W), (H, W, C) or "
                            "(N, H, W, C) arrays and (C, H, W) or (N, C, H, W) tensors") from None
    raise DataError(f"image {index} is a {type(item).__name__}; give a file path, a PIL image, an array or a tensor")


def as_tensor(img: Image.Image, channels: int) -> torch.Tensor:
    """A PIL image in the mode of `channels` -> float (C, H, W) in [0, 1]."""
    array = np.asarray(img, dtype=np.float32) / 255
    return torch.from_numpy(array.reshape(img.size[1], img.size[0], channels)).permute(2, 0, 1)
