"""Image folders: one subfolder per class, optionally inside train/ val/ test/ subfolders."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from cnnlab.data.images import ImageData
from cnnlab.data.pixels import normalize
from cnnlab.errors import DataError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
SPLIT_NAMES = ("train", "val", "test")


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def scan_class_folders(root: Path, classes: list[str] | None = None) -> tuple[list[Path], list[int], list[str]]:
    """Paths and labels of a folder whose subfolders are classes (sorted by name)."""
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist")
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    classes = classes if classes is not None else found
    if not classes:
        raise DataError(f"{root} has no class subfolders; expected {root}/<class name>/<image files>")
    paths, labels = [], []
    for label, name in enumerate(classes):
        files = list_images(root / name)
        if not files:
            raise DataError(f"class folder {root / name} is empty (no {', '.join(sorted(IMAGE_SUFFIXES))} files)")
        paths += files
        labels += [label] * len(files)
    return paths, labels, classes


def open_image(path: Path, mode: str | None = None, *, side: int | None = None) -> Image.Image:
    """Open and fully decode an image as a person sees it (EXIF orientation, 16-bit scaled, palette, alpha
    and CMYK converted) in 'L' or 'RGB' (`mode`, default: L for one-channel files); JPEGs are decoded at
    reduced size when `side` (the smallest side needed) allows. Raises DataError if unreadable."""
    try:
        with Image.open(path) as img:
            return normalize(img, side=side, mode=mode)
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:
        raise DataError(f"cannot read image {path}: {exc}") from exc


def fit_square(img: Image.Image, size: int) -> Image.Image:
    """Resize the shorter side to `size`, then crop the centre to size x size."""
    return ImageOps.fit(img, (size, size), method=Image.Resampling.BILINEAR)


def load_images(
    paths: list[Path], labels: list[int], classes: list[str], image_size: int | None
) -> tuple[ImageData, list[tuple[str, str]]]:
    """Decode files into an ImageData; unreadable files are skipped and returned as (path, reason)."""
    decoded, kept, skipped = [], [], []
    for path, label in zip(paths, labels, strict=True):
        try:
            decoded.append((open_image(path), path, label))
        except DataError as exc:
            skipped.append((str(path), str(exc.__cause__ or exc)))
    if not decoded:
        raise DataError(f"none of the {len(paths)} images could be read (first: {skipped[0][0]}: {skipped[0][1]})")
    gray = all(img.mode in ("L", "1", "I", "I;16", "LA") for img, _, _ in decoded)
    mode = "L" if gray else "RGB"
    if image_size is None:
        sizes = Counter(img.size for img, _, _ in decoded)
        if len(sizes) > 1:
            (a, _), (b, _) = sizes.most_common(2)
            raise DataError(
                f"images have {len(sizes)} different sizes (e.g. {a[0]}x{a[1]} and {b[0]}x{b[1]}); "
                "pass --image-size N to resize them to N x N"
            )
    arrays = []
    for img, path, label in decoded:
        img = img.convert(mode)
        if image_size is not None:
            img = fit_square(img, image_size)
        arrays.append(np.asarray(img))
        kept.append((str(path), label))
    images = np.stack(arrays)
    if images.ndim == 3:
        images = images[:, :, :, None]
    tensor = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    data = ImageData(tensor, torch.tensor([lab for _, lab in kept]), classes, [p for p, _ in kept])
    return data, skipped


def split_folders(root: Path) -> dict[str, Path]:
    """The train/val/test subfolders of root, if it is laid out that way."""
    return {name: root / name for name in SPLIT_NAMES if (root / name).is_dir()}


def collect_image_paths(inputs: list[str | Path]) -> list[Path]:
    """Files as given, and image files inside given folders."""
    paths: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            paths += list_images(item)
        elif item.is_file():
            paths.append(item)
        else:
            raise DataError(f"{item} does not exist")
    if not paths:
        raise DataError(f"no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) found in {', '.join(map(str, inputs))}")
    return paths


def image_tensor(path: Path, channels: int, size: int) -> torch.Tensor:
    """A file as the model wants it: float (C, size, size) in [0, 1]."""
    img = fit_square(open_image(path, "L" if channels == 1 else "RGB"), size)
    array = np.asarray(img, dtype=np.float32) / 255
    return torch.from_numpy(array.reshape(size, size, channels)).permute(2, 0, 1)
