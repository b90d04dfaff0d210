"""In-memory image sets: uint8 tensors (N, C, H, W) with integer labels and class names."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F


@dataclass
class ImageData:
    """A labelled image set held in memory.

    images: uint8 (N, C, H, W), values 0..255; labels: int64 (N,), values 0..len(classes)-1.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    paths: list[str] | None = None

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        if len(self.labels) != len(self.images):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")
        self.labels = self.labels.long()

    def __len__(self) -> int:
        return len(self.images)

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.images.shape[2:])  # (H, W)

    def subset(self, index: torch.Tensor | np.ndarray | list[int]) -> ImageData:
        index = torch.as_tensor(index, dtype=torch.long)
        paths = [self.paths[i] for i in index.tolist()] if self.paths is not None else None
        return ImageData(self.images[index], self.labels[index], list(self.classes), paths)


@dataclass
class DataSplits:
    """Train, validation and test sets of one dataset, with what was skipped while reading it."""

    name: str
    train: ImageData
    val: ImageData
    test: ImageData
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    notes: list[str] = field(default_factory=list)  # what a reader adapted or found changed, for the run's log
    leaks_dropped: dict[str, int] | None = None  # with --drop-leaks: validation and test images left out

    @property
    def classes(self) -> list[str]:
        return self.train.classes

    def map(self, fn) -> DataSplits:
        """Apply fn(ImageData) -> ImageData to every split."""
        return DataSplits(self.name, fn(self.train), fn(self.val), fn(self.test), list(self.skipped),
                          list(self.notes), self.leaks_dropped)


def from_numpy(images: np.ndarray, labels: np.ndarray, classes: list[str]) -> ImageData:
    """Build an ImageData from uint8 (N, H, W) or (N, H, W, C) arrays."""
    images = np.asarray(images, dtype=np.uint8)
    if images.ndim == 3:
        images = images[:, :, :, None]
    array = np.ascontiguousarray(images.transpose(0, 3, 1, 2))
    if not array.flags.writeable:  # e.g. IDX data read with np.frombuffer
        array = array.copy()
    labels_t = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    return ImageData(torch.from_numpy(array), labels_t, list(classes))


def resize(images: torch.Tensor, size: int | tuple[int, int], chunk: int = 4096) -> torch.Tensor:
    """Resize uint8 (N, C, H, W) images to `size` with antialiased bilinear filtering (no crop)."""
    size = (size, size) if isinstance(size, int) else tuple(size)
    if tuple(images.shape[2:]) == size:
        return images
    out = []
    for start in range(0, len(images), chunk):
        part = images[start : start + chunk].float()
        part = F.interpolate(part, size=size, mode="bilinear", antialias=True, align_corners=False)
        out.append(part.round_().clamp_(0, 255).to(torch.uint8))
    return torch.cat(out) if out else images.new_zeros((0, images.shape[1], *size))


def convert_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """Grayscale -> RGB by repetition, RGB -> grayscale by ITU-R 601 luma; uint8 (N, C, H, W)."""
    have = images.shape[1]
    if have == channels:
        return images
    if have == 1 and channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    if have == 3 and channels == 1:
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return (images.float() * weights).sum(1, keepdim=True).round_().clamp_(0, 255).to(torch.uint8)
    raise ValueError(f"cannot convert {have} channels to {channels}")


def channel_stats(images: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 images (N, C, H, W), in [0, 1] units."""
    x = images.float().div_(255).transpose(0, 1).flatten(1)  # (C, N*H*W)
    return x.mean(1).tolist(), x.std(1).clamp_min(1e-3).tolist()
