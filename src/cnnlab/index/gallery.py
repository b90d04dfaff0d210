"""Images to index or to query: a dataset by name, a folder (class subfolders or loose files), uploaded bytes."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cnnlab.data.datasets import DataConfig, load_dataset
from cnnlab.data.folders import collect_image_paths, fit_square, load_images
from cnnlab.data.images import ImageData
from cnnlab.data.pixels import normalize
from cnnlab.errors import DataError, ImageTooLargeError, NotAnImageError

SPLITS = ("all", "train", "val", "test")
MAX_PIXELS = 40_000_000  # larger images are refused before decoding (decompression bombs)


@dataclass
class Gallery:
    """images uint8 (N, C, S, S); a class name (or None) and a source (path or dataset:split:i) per image."""

    images: torch.Tensor
    labels: list[str | None]
    sources: list[str]
    skipped: list[tuple[str, str]]
    classes: list[str]  # in the dataset's order


def from_image_data(data: ImageData, prefix: str) -> tuple[torch.Tensor, list[str | None], list[str]]:
    names = [data.classes[i] for i in data.labels.tolist()]
    sources = list(data.paths) if data.paths else [f"{prefix}:{i}" for i in range(len(data))]
    return data.images, names, sources


def load_gallery(source: str, *, data_dir: str | None = None, split: str = "all", image_size: int | None = None,
                 seed: int = 0) -> Gallery:
    """A dataset name (or folder:PATH) read through the data layer, taking `split`; or a folder path:
    class subfolders give labels, loose image files come unlabelled. Folder images are fitted to
    image_size x image_size."""
    if split not in SPLITS:
        raise DataError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    path = Path(source).expanduser()
    if path.is_dir() and not source.startswith("folder:"):
        has_classes = any(p.is_dir() and not p.name.startswith(".") for p in path.iterdir())
        if has_classes:
            source = f"folder:{path}"
        else:
            files = collect_image_paths([path])
            data, skipped = load_images(files, [0] * len(files), ["unlabelled"], image_size)
            return Gallery(data.images, [None] * len(data), list(data.paths), skipped, [])
    splits = load_dataset(DataConfig(source, data_dir, image_size if source.startswith("folder:") else None,
                                     seed=seed), min_classes=1)
    parts = [("train", splits.train), ("val", splits.val), ("test", splits.test)]
    chosen = [(name, d) for name, d in parts if split in ("all", name)]
    images, labels, sources = [], [], []
    for name, d in chosen:
        x, lab, src = from_image_data(d, f"{source}:{name}")
        images.append(x)
        labels += lab
        sources += src
    return Gallery(torch.cat(images), labels, sources, list(splits.skipped), list(splits.classes))


def decode_image(data: bytes | Path, size: int, max_pixels: int = MAX_PIXELS,
                 crop: tuple[int, int, int, int] | None = None) -> torch.Tensor:
    """An encoded image (bytes or a file) -> uint8 (C, size, size) as a person sees it (EXIF rotation,
    16-bit scaled, palette, alpha and CMYK converted; cnnlab.data.pixels.normalize), grayscale kept as 1
    channel. JPEGs are decoded at reduced size when `size` allows. `crop` (x0, y0, x1, y1), in pixels of
    the image as a person sees it, takes that region only.

    NotAnImageError when nothing can decode it; ImageTooLargeError when it holds more than `max_pixels`
    pixels (checked from the header, before decoding); DataError for a crop outside the image."""
    name = str(data) if isinstance(data, Path) else "the upload"
    try:
        img = Image.open(data if isinstance(data, Path) else io.BytesIO(data))
    except (OSError, ValueError, SyntaxError) as exc:
        raise NotAnImageError(f"{name} is not an image that can be read ({exc})") from exc
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"{name} is too large to decode safely ({exc})") from exc
    with img:
        width, height = img.size
        if width * height > max_pixels:
            raise ImageTooLargeError(f"{name} has {width}x{height} = {width * height:,} pixels, over the limit of "
                                     f"{max_pixels:,} (a decompression bomb?)")
        shown = upright_size(img)
        if crop is not None:
            check_crop(crop, *shown, name)
        try:
            upright = normalize(img, side=size if crop is None else crop_side(size, crop, shown))
            region = upright if crop is None else upright.crop(scaled_box(crop, shown, upright.size))
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            raise NotAnImageError(f"{name} is damaged or not an image ({exc})") from exc
        square = fit_square(region, size)
        array = np.array(square)  # a writable copy
        for step in (upright, region, square):  # give the decoded pixels back now, not at the next collection
            if step is not img:
                step.close()
    if array.ndim == 2:
        array = array[:, :, None]
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


def upright_size(img: Image.Image) -> tuple[int, int]:
    """(width, height) of an opened image as a person sees it: swapped when its EXIF orientation turns it."""
    try:
        orientation = img.getexif().get(0x0112)
    except (OSError, ValueError, SyntaxError):
        orientation = None
    return img.size[::-1] if orientation in (5, 6, 7, 8) else img.size


def check_crop(crop: tuple[int, int, int, int], width: int, height: int, name: str = "the image") -> None:
    """DataError unless `crop` (x0, y0, x1, y1) lies inside a width x height image with x0 < x1, y0 < y1."""
    x0, y0, x1, y1 = crop
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise DataError(f"crop {x0},{y0},{x1},{y1} does not fit {name} of {width}x{height} pixels: give x0,y0,x1,y1 "
                        f"with 0 <= x0 < x1 <= {width} and 0 <= y0 < y1 <= {height} (pixels of the image as shown, "
                        "EXIF rotation applied)")


def crop_side(size: int, crop: tuple[int, int, int, int], shown: tuple[int, int]) -> int:
    """The smallest image side to decode at (JPEG draft) for the crop's shorter side to stay >= `size`."""
    short = min(crop[2] - crop[0], crop[3] - crop[1])
    return min(min(shown), math.ceil(size * min(shown) / short))


def scaled_box(crop: tuple[int, int, int, int], shown: tuple[int, int], decoded: tuple[int, int]) -> tuple:
    """The crop in pixels of the decoded image (smaller than `shown` after a reduced-size decode)."""
    sx, sy = decoded[0] / shown[0], decoded[1] / shown[1]
    x0, y0 = math.floor(crop[0] * sx), math.floor(crop[1] * sy)
    return x0, y0, max(x0 + 1, math.ceil(crop[2] * sx)), max(y0 + 1, math.ceil(crop[3] * sy))
