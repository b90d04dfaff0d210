"""Batches from an in-memory ImageData: shuffled with a per-epoch seed, augmented in batches."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from cnnlab.data.augment import AugmentConfig, augment_batch
from cnnlab.data.images import ImageData


class BatchLoader:
    """Yields (images float (B, C, H, W) in [0, 1], labels int64 (B,)) on `device`.

    The data are moved to the device once, as uint8. Epoch e's order and augmentation depend only on
    (seed, e), so a resumed run sees exactly the batches an uninterrupted one would.
    """

    def __init__(self, data: ImageData, batch_size: int, *, shuffle: bool = False,
                 augment: AugmentConfig | None = None, seed: int = 0, drop_last: bool = False,
                 device: torch.device | str = "cpu") -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.device = torch.device(device)
        self.images = data.images.to(self.device)
        self.labels = data.labels.to(self.device)
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.augment = augment or AugmentConfig()
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        n = len(self.labels)
        # A shuffled (training) pass also drops a last batch of one: BatchNorm cannot train on it.
        drop = self.drop_last or (self.shuffle and n % self.batch_size == 1 and n > 1)
        return n // self.batch_size if drop else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        g = torch.Generator(device=self.device).manual_seed(self.seed * 100_003 + self.epoch)
        n = len(self.labels)
        if self.shuffle:
            order = torch.randperm(n, generator=g, device=self.device)
        else:
            order = torch.arange(n, device=self.device)
        for i in range(len(self)):
            idx = order[i * self.batch_size : (i + 1) * self.batch_size]
            x = self.images[idx].float().div_(255)
            if self.augment.enabled:
                x = augment_batch(x, self.augment, g)
            yield x, self.labels[idx]
