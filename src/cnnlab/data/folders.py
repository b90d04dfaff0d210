"""Image folders: one subfolder per class, optionally inside train/ val/ test/ subfolders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from cnnlab.data.pixels import fit_square, open_image
from cnnlab.data.stream import load_images
from cnnlab.errors import DataError

__all__ = ["collect_image_paths", "fit_square", "image_tensor", "list_images", "load_images", "open_image",
           "scan_class_folders", "split_folders"]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
SPLIT_NAMES = ("train", "val", "test")


def list_images(folder: Path) -> list[Path]:
    """Image files under `folder`, sorted; hidden files and folders (such as cnnlab's cache) are left out."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


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
