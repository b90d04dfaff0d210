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


def _to_uint8(array: np.ndarray, index: int) -> np.ndarray:
    """uint8 as it is; other integers when they are 0..255; floats when they are in [0, 1]. Anything else is
    refused rather than clipped into a wrong image."""
    if array.dtype == np.uint8:
        return array
    if array.size == 0:
        raise DataError(f"image {index} is an empty array")
    if np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_:
        low, high = int(array.min()), int(array.max())
        if array.dtype != np.bool_ and (low < 0 or high > 255):
            raise DataError(f"image {index} is an integer array with values {low}..{high}; give 0..255")
        return array.astype(np.uint8) * (255 if array.dtype == np.bool_ else 1)
    if not np.issubdtype(array.dtype, np.floating):
        raise DataError(f"image {index} is an array of {array.dtype}; give uint8 (0..255) or floats in [0, 1]")
    low, high = float(np.nanmin(array)), float(np.nanmax(array))
    if not np.isfinite(array).all() or low < -1e-6 or high > 1 + 1e-6:
        raise DataError(f"image {index} is a float array with values {low:.4g}..{high:.4g}; floats are read as "
                        "[0, 1]: divide 0..255 images by 255 or pass them as uint8")
    return (np.clip(array, 0, 1) * 255).round().astype(np.uint8)


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
        array = _to_uint8(array, index)
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
