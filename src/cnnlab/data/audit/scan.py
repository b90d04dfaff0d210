"""Read a classification data set for the audit, as cnnlab trains on it (the same splits), keeping per image only
what the audit needs: a 16x16 grey thumbnail, a digest of its content, its size and mode, where it came from."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from cnnlab.data.audit.duplicates import THUMB, pixel_digests, thumbnails
from cnnlab.data.config import FOLDER_PREFIX, DataConfig
from cnnlab.data.datasets import dataset_root, load_dataset
from cnnlab.data.pixels import open_image
from cnnlab.errors import DataError

SPLITS = ("train", "val", "test")


@dataclass
class Scan:
    """Every readable image of the data set, row for row: which split, class, id (a path under the data folder
    for files, SPLIT[i] for an official format), 16x16 grey thumbnail and content digest."""

    name: str
    root: Path
    classes: list[str]
    split: np.ndarray  # (N,) index into SPLITS
    label: np.ndarray  # (N,)
    ids: list[str]
    thumbs: np.ndarray  # uint8 (N, THUMB, THUMB)
    digests: list[str]  # sha1 of the file's bytes, or of the decoded pixels for an official format
    sizes: Counter = field(default_factory=Counter)  # (width, height) -> images
    modes: Counter = field(default_factory=Counter)  # PIL mode, or "L" / "RGB" for arrays
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    files: list[Path] | None = None  # for folders: each row's file, to draw the pairs found
    native: list[torch.Tensor] | None = None  # for official formats: each split's uint8 images, to draw them

    def picture(self, row: int, side: int = 64) -> np.ndarray:
        """Row `row` as an RGB array (side, side, 3) for the report."""
        if self.files is not None:
            with Image.open(self.files[row]) as img:
                img = img.convert("RGB")
                img.thumbnail((side, side))
                canvas = Image.new("RGB", (side, side), "white")
                canvas.paste(img, ((side - img.width) // 2, (side - img.height) // 2))
                return np.asarray(canvas)
        split = int(self.split[row])
        image = self.native[split][row - sum(len(p) for p in self.native[:split])]  # (C, H, W)
        image = F.interpolate(image[None].float(), size=(side, side), mode="nearest")[0].to(torch.uint8)
        return image.expand(3, -1, -1).permute(1, 2, 0).numpy()


def scan(name: str, data_dir: str | None, seed: int = 0) -> Scan:
    """The data set `name` (a registered name or folder:PATH) read from `data_dir`, split as training would split it
    with the default fractions and `seed`."""
    folder = name.startswith(FOLDER_PREFIX)
    cfg = DataConfig(name, data_dir, image_size=THUMB if folder else None, channels=1 if folder else None, seed=seed)
    splits = load_dataset(cfg, min_classes=1)
    parts = [splits.train, splits.val, splits.test]
    root = dataset_root(cfg)
    result = Scan(name, root, splits.classes, np.concatenate([np.full(len(p), i) for i, p in enumerate(parts)]),
                  torch.cat([p.labels for p in parts]).numpy(), [], np.zeros((0, THUMB, THUMB), np.uint8), [],
                  unreadable=list(splits.skipped))
    if folder:
        files = [Path(f) for p in parts for f in (p.paths or [])]
        result.files, result.ids = files, [_relative(f, root) for f in files]
        result.thumbs = torch.cat([p.images[:, 0] for p in parts]).numpy()
        for f in files:
            result.digests.append(_file_digest(f))
            try:
                with Image.open(f) as img:
                    result.sizes[img.size] += 1
                    result.modes[img.mode] += 1
            except (OSError, ValueError, SyntaxError):
                result.modes["unreadable header"] += 1
    else:
        result.native = [p.images for p in parts]
        result.ids = [f"{SPLITS[i]}[{j}]" for i, p in enumerate(parts) for j in range(len(p))]
        result.thumbs = np.concatenate([thumbnails(p.images) for p in parts])
        for p in parts:
            result.digests += pixel_digests(p.images)
            result.sizes[(p.images.shape[3], p.images.shape[2])] += len(p)
            result.modes["L" if p.images.shape[1] == 1 else "RGB"] += len(p)
    return result


class FileRows:
    """Rows of image files gathered one at a time (the mask and box audits), then made a Scan."""

    def __init__(self, name: str, root: Path, classes: list[str]) -> None:
        self.scan = Scan(name, root, classes, np.zeros(0, np.int64), np.zeros(0, np.int64), [],
                         np.zeros((0, THUMB, THUMB), np.uint8), [], files=[])
        self._thumbs: list[np.ndarray] = []
        self._split: list[int] = []
        self._label: list[int] = []

    def add(self, path: Path, split: int, label: int) -> bool:
        """The image file `path` as a row (thumbnail, digest, size, mode); False (listed as unreadable) when it
        cannot be decoded. Decoded at reduced size where the format allows: memory stays small per image."""
        s = self.scan
        try:
            with Image.open(path) as img:
                mode, size = img.mode, img.size
            grey = open_image(path, "L", side=4 * THUMB)
        except (DataError, OSError, ValueError, SyntaxError) as exc:
            s.unreadable.append((str(path), str(exc)))
            return False
        self._thumbs.append(np.asarray(grey.resize((THUMB, THUMB), Image.Resampling.BOX), dtype=np.uint8))
        s.digests.append(_file_digest(path))
        s.sizes[size] += 1
        s.modes[mode] += 1
        s.ids.append(_relative(path, s.root))
        s.files.append(path)
        self._split.append(split)
        self._label.append(label)
        return True

    def done(self) -> Scan:
        s = self.scan
        if self._thumbs:
            s.thumbs = np.stack(self._thumbs)
        s.split, s.label = np.asarray(self._split, np.int64), np.asarray(self._label, np.int64)
        return s


def _file_digest(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
