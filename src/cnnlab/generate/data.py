"""Real images for a GAN: a folder of photos (any sizes and modes) or one class of a dataset."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from cnnlab.data.datasets import DATASETS, DataConfig, load_dataset
from cnnlab.data.folders import collect_image_paths, load_images
from cnnlab.data.images import ImageData, convert_channels
from cnnlab.errors import DataError
from cnnlab.options import said

MIN_IMAGES = 16  # fewer cannot fill a batch; the seed trained on a few hundred photos


@dataclass
class RealImages:
    images: torch.Tensor  # uint8 (N, C, S, S)
    notes: list[str]  # what was resized or converted, said to the user
    skipped: list[tuple[str, str]]  # (path, reason) of unreadable files


def check_source(source: str) -> Path | None:
    """The folder `source` names, or None for a registered DATASET[:CLASS]; DataError (UnknownNameError) for
    neither, so that a typo is named before a run folder is made."""
    path = Path(source[len("folder:"):] if source.startswith("folder:") else source).expanduser()
    if path.is_dir():
        return path
    if source.startswith("folder:") or "/" in source or "\\" in source or source.startswith(("~", ".")):
        what = "is not a folder" if path.exists() else "does not exist"
        raise DataError(f"image folder {path} {what}; {said('data')} takes a folder of photos, folder:PATH or "
                        "DATASET[:CLASS] such as cifar10:cat")
    DATASETS.get(source.partition(":")[0])
    return None


def load_real_images(source: str, *, data_dir: str | None, image_size: int, channels: int = 3) -> RealImages:
    """`source`: a folder (searched recursively), folder:PATH, or DATASET[:CLASS] (e.g. cifar10:cat, read
    from data_dir; the training split, all of it)."""
    path = check_source(source)
    if path is not None:
        real = _from_folder(path, image_size, channels)
    else:
        real = _from_dataset(source, data_dir, image_size, channels)
    if len(real.images) < MIN_IMAGES:
        raise DataError(f"{source} gives {len(real.images)} readable images; a GAN needs at least {MIN_IMAGES} "
                        "(the seed trained on a few hundred)")
    return real


def _from_folder(path: Path, image_size: int, channels: int) -> RealImages:
    files = collect_image_paths([path])
    sizes, modes = Counter(), Counter()
    for file in files:  # headers only: what will be resized or converted, to say so
        try:
            with Image.open(file) as img:
                sizes[img.size] += 1
                modes[img.mode] += 1
        except (OSError, ValueError, SyntaxError):
            pass
    data, skipped = load_images(files, [0] * len(files), ["images"], image_size)
    images = convert_channels(data.images, channels)
    notes = []
    off_size = sum(n for size, n in sizes.items() if size != (image_size, image_size))
    if off_size:
        notes.append(f"resized {off_size} images ({len(sizes)} different sizes) to {image_size}x{image_size}, "
                     "centre-cropped to a square")
    want = "L" if channels == 1 else "RGB"
    converted = sum(n for mode, n in modes.items() if mode != want)
    if converted:
        notes.append(f"converted {converted} images from {', '.join(sorted(m for m in modes if m != want))} to {want}")
    return RealImages(images, notes, skipped)


def _from_dataset(source: str, data_dir: str | None, image_size: int, channels: int) -> RealImages:
    name, _, wanted = source.partition(":")
    splits = load_dataset(DataConfig(name, data_dir, image_size, channels))
    data = ImageData(torch.cat([splits.train.images, splits.val.images]),
                     torch.cat([splits.train.labels, splits.val.labels]), splits.classes)  # the training set, whole
    if wanted:
        if wanted not in data.classes:
            raise DataError(f"{name} has no class {wanted!r}; its classes are {', '.join(data.classes)}")
        data = data.subset(torch.nonzero(data.labels == data.classes.index(wanted)).squeeze(1))
    return RealImages(data.images, [f"{len(data)} training images of {source}"], list(splits.skipped))
