"""Decoded images as a person sees them: EXIF orientation applied, 16-bit scaled (not clipped), palette,
RGBA, CMYK and the like converted, and large JPEGs decoded at reduced size when only a small image is wanted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from cnnlab.errors import DataError

GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F", "La")


def is_gray(img: Image.Image) -> bool:
    """Whether the image holds one channel (a palette of grays counts as colour: it may not be gray)."""
    return img.mode in GRAY_MODES


def draft_for(img: Image.Image, side: int | None) -> None:
    """Let the JPEG decoder scale down by 1/2, 1/4 or 1/8 while keeping both sides >= `side` (and EXIF
    rotation does not matter: the shorter side stays the shorter side). A no-op for other formats."""
    if side is None or img.format != "JPEG":
        return
    width, height = img.size
    scale = min(width, height) / side
    if scale >= 2:
        img.draft(img.mode, (max(1, int(width / scale)), max(1, int(height / scale))))


def _wide_to_8bit(img: Image.Image) -> Image.Image:
    """Integer (16/32-bit) or float single-channel images scaled to 0..255 by their own type's range."""
    array = np.asarray(img)
    if array.dtype.kind == "f":
        low, high = (0.0, 1.0) if array.size and array.min() >= 0 and array.max() <= 1 else (
            float(array.min()) if array.size else 0.0, float(array.max()) if array.size else 1.0)
    else:
        high = 65535.0 if img.mode.startswith("I;16") or (array.size and array.max() > 255) else 255.0
        low = 0.0
        if array.size and array.max() > 65535:
            high = float(array.max())
    scaled = (array.astype(np.float64) - low) * (255.0 / max(high - low, 1e-12))
    return Image.fromarray(np.clip(np.round(scaled), 0, 255).astype(np.uint8), "L")


def to_mode(img: Image.Image, mode: str) -> Image.Image:
    """Convert to 'L' or 'RGB' as a person sees the image: transparency over white, 16-bit scaled by 1/257
    (Pillow's convert clips it to 255), CMYK and palette through their colours."""
    if mode not in ("L", "RGB"):
        raise ValueError(f"mode must be L or RGB, got {mode!r}")
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        img = _wide_to_8bit(img)
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba).convert("RGB")
    return img if img.mode == mode else img.convert(mode)


def normalize(img: Image.Image, *, side: int | None = None, mode: str | None = None) -> Image.Image:
    """The decoded image upright (EXIF), in 'L' or 'RGB' (`mode`, default: L for one-channel images), read
    at reduced size for JPEGs when `side` is the smallest side needed. Call on an opened, not yet loaded
    image for the reduced-size decode to take effect."""
    draft_for(img, side)
    img.load()
    target = mode or ("L" if is_gray(img) else "RGB")
    img = ImageOps.exif_transpose(img)
    return to_mode(img, target)


def open_image(path: Path, mode: str | None = None, *, side: int | None = None) -> Image.Image:
    """Open and fully decode an image file as a person sees it (see `normalize`), in 'L' or 'RGB' (`mode`,
    default: L for one-channel files); JPEGs are decoded at reduced size when `side` (the smallest side
    needed) allows. Raises DataError if unreadable."""
    try:
        with Image.open(path) as img:
            return normalize(img, side=side, mode=mode)
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:
        raise DataError(f"cannot read image {path}: {exc}") from exc


def fit_square(img: Image.Image, size: int) -> Image.Image:
    """Resize the shorter side to `size`, then crop the centre to size x size."""
    return ImageOps.fit(img, (size, size), method=Image.Resampling.BILINEAR)
