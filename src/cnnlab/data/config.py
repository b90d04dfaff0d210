"""Which data, where from, and how it is split and shaped: DataConfig, checked when built (no torch here)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cnnlab.checks import check_number
from cnnlab.errors import ConfigError
from cnnlab.options import said

FOLDER_PREFIX = "folder:"
# The side a built-in dataset is resized to when --image-size is not given, for every room: the 8x8 digits are too
# small for most of the zoo (airnet, the similarity default, and the baseline CNN need 32); the seed's 32.
DEFAULT_IMAGE_SIZE = {"digits": 32}


def default_image_size(name: str, image_size: int | None) -> int | None:
    """`image_size`, or when it is None the dataset's default side (None: keep the native size)."""
    return DEFAULT_IMAGE_SIZE.get(name) if image_size is None else image_size


@dataclass(frozen=True)
class DataConfig:
    """Which data, where from, and how it is split and shaped."""

    name: str = "digits"  # a registered name, or folder:PATH
    root: str | None = None  # folder holding the official files; default $CNNLAB_DATA/<name>
    image_size: int | None = None  # resize to image_size x image_size; None keeps the native size
    channels: int | None = None  # 1 or 3 to convert; None keeps the native channels
    val_fraction: float = 0.1  # of the training set, stratified
    test_fraction: float = 0.2  # only for datasets without an official test split
    train_per_class: int | None = None  # keep only this many training images per class (few-label runs)
    seed: int = 0  # of the splits
    drop_leaks: bool = False  # leave out validation and test images that duplicate a training image

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip() or self.name == FOLDER_PREFIX:
            raise ConfigError(f"{said('data')} must be a dataset name or folder:PATH, got {self.name!r}")
        # Folders are kept as absolute paths, so a run finds its data (and only its data) from any folder later.
        if self.name.startswith(FOLDER_PREFIX):
            folder = Path(self.name[len(FOLDER_PREFIX):]).expanduser()
            object.__setattr__(self, "name", FOLDER_PREFIX + str(folder.absolute()))
        if isinstance(self.root, str) and self.root:
            object.__setattr__(self, "root", str(Path(self.root).expanduser().absolute()))
        check_number("image_size", self.image_size, low=4, high=4096, integer=True, optional=True)
        if self.channels is not None and self.channels not in (1, 3):
            raise ConfigError(f"{said('channels')} must be 1 (grayscale) or 3 (RGB), got {self.channels!r}")
        check_number("val_fraction", self.val_fraction, low=0, high=1, low_open=True, high_open=True)
        check_number("test_fraction", self.test_fraction, low=0, high=1, low_open=True, high_open=True)
        check_number("train_per_class", self.train_per_class, low=1, integer=True, optional=True)
        check_number("seed", self.seed, low=0, high=2**32 - 2, integer=True)
        if not isinstance(self.drop_leaks, bool):
            raise ConfigError(f"{said('drop_leaks')} must be true or false, got {self.drop_leaks!r}")


def default_root(name: str) -> Path:
    base = os.environ.get("CNNLAB_DATA") or Path.home() / ".cache" / "cnnlab" / "data"
    return Path(base) / name
