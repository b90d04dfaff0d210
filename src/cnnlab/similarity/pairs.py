"""The seed's pair generator: N pairs of the same class (target 1) and N of different classes (target 0)."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from cnnlab.data.augment import AugmentConfig, augment_batch
from cnnlab.data.images import ImageData
from cnnlab.data.loader import batch_count
from cnnlab.errors import DataError


def make_pairs(labels: torch.Tensor, n: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Index pairs (a, b) and targets (float, 1 = same class) for labels (N,): n // 2 same-class pairs
    (a != b) and n - n // 2 different-class pairs, shuffled. Anchors are drawn uniformly from the images."""
    device = labels.device
    counts = torch.bincount(labels)
    if int((counts > 0).sum()) < 2:
        raise DataError("pairs need at least two classes")
    if int(counts.max()) < 2:
        raise DataError("same-class pairs need a class with at least two images")
    order = torch.argsort(labels, stable=True)  # indices grouped by class
    starts = torch.cumsum(counts, 0) - counts  # (K,) first position of each class in `order`
    rank = torch.empty_like(order)
    rank[order] = torch.arange(len(order), device=device)  # position of each image in `order`

    n_same = n // 2
    eligible = torch.nonzero(counts[labels] >= 2).squeeze(1)
    a_same = eligible[torch.randint(len(eligible), (n_same,), generator=generator, device=device)]
    cls = labels[a_same]
    r = (torch.rand(n_same, generator=generator, device=device) * (counts[cls] - 1)).long()
    r += (r >= rank[a_same] - starts[cls]).long()  # skip the anchor itself
    b_same = order[starts[cls] + r]

    n_diff = n - n_same
    a_diff = torch.randint(len(labels), (n_diff,), generator=generator, device=device)
    cls = labels[a_diff]
    r = (torch.rand(n_diff, generator=generator, device=device) * (len(labels) - counts[cls])).long()
    r += counts[cls] * (r >= starts[cls]).long()  # skip the anchor's class block
    b_diff = order[r]

    a, b = torch.cat([a_same, a_diff]), torch.cat([b_same, b_diff])
    target = torch.cat([torch.ones(n_same, device=device), torch.zeros(n_diff, device=device)])
    perm = torch.randperm(n, generator=generator, device=device)
    return a[perm], b[perm], target[perm]


class PairLoader:
    """Yields ((images a, images b) float (B, C, H, W) in [0, 1], targets float (B,)) on `device`; with
    `labels`, ((images a, images b, classes a, classes b), targets).

    Training pairs are drawn afresh each epoch from (seed, epoch) alone, so resume is exact; with
    `fixed` the same pairs come every epoch (validation).
    """

    def __init__(self, data: ImageData, n_pairs: int, batch_size: int, *, fixed: bool = False,
                 augment: AugmentConfig | None = None, seed: int = 0, device: torch.device | str = "cpu",
                 labels: bool = False) -> None:
        self.device = torch.device(device)
        self.images, self.labels = data.images.to(self.device), data.labels.to(self.device)
        self.n_pairs, self.batch_size, self.fixed = n_pairs, batch_size, fixed
        self.augment = augment or AugmentConfig()
        self.seed, self.epoch = seed, 0
        self.with_labels = labels  # yield (xa, xb, ya, yb): the class of each image, for a ranking loss

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return batch_count(self.n_pairs, self.batch_size, shuffle=not self.fixed)

    def pairs(self) -> tuple[torch.Tensor, ...]:
        epoch = 0 if self.fixed else self.epoch
        g = torch.Generator(device=self.device).manual_seed(self.seed * 100_003 + epoch)
        return (*make_pairs(self.labels, self.n_pairs, g), g)

    def __iter__(self) -> Iterator[tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]]:
        a, b, target, g = self.pairs()
        for i in range(len(self)):
            sl = slice(i * self.batch_size, (i + 1) * self.batch_size)
            xa, xb = (self.images[idx[sl]].float().div_(255) for idx in (a, b))
            if self.augment.enabled:
                xa, xb = augment_batch(xa, self.augment, g), augment_batch(xb, self.augment, g)
            yield ((xa, xb, self.labels[a[sl]], self.labels[b[sl]]) if self.with_labels else (xa, xb)), target[sl]
