"""Batches from an in-memory ImageData: shuffled with a per-epoch seed, augmented in batches."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from cnnlab.data.augment import AugmentConfig, augment_batch
from cnnlab.data.images import ImageData
from cnnlab.errors import CnnlabError


def batch_count(n: int, batch_size: int, shuffle: bool, drop_last: bool = False) -> int:
    """Batches in one pass; a shuffled (training) pass also drops a last batch of one, which BatchNorm
    cannot train on."""
    drop = drop_last or (shuffle and n % batch_size == 1 and n > 1)
    return n // batch_size if drop else -(-n // batch_size)


def epoch_batches(n: int, batch_size: int, *, shuffle: bool, seed: int, epoch: int, device: torch.device,
                  drop_last: bool = False) -> tuple[torch.Generator, list[torch.Tensor]]:
    """The generator of epoch `epoch` (seeded by (seed, epoch) alone, for exact resume) and the index
    batches of that epoch on `device`; the generator goes on to drive augmentation."""
    g = torch.Generator(device=device).manual_seed(seed * 100_003 + epoch)
    order = torch.randperm(n, generator=g, device=device) if shuffle else torch.arange(n, device=device)
    count = batch_count(n, batch_size, shuffle, drop_last)
    return g, [order[i * batch_size : (i + 1) * batch_size] for i in range(count)]


def balanced_batches(labels: torch.Tensor, batch_size: int, per_class: int, g: torch.Generator,
                     batches: int) -> list[torch.Tensor]:
    """`batches` index batches of batch_size // per_class classes with `per_class` images each (the sampler of
    metric learning: every batch holds positives for every anchor). Classes are drawn at random, without
    repeats within a batch where there are enough; each class's images are used in a shuffled cycle."""
    labels = labels.cpu()
    pools = [torch.nonzero(labels == c).flatten() for c in labels.unique()]
    pools = [p for p in pools if len(p)]
    order = [p[torch.randperm(len(p), generator=g)] for p in pools]
    used = [0] * len(pools)
    ways = max(1, batch_size // per_class)
    out = []
    for _ in range(batches):
        picks = torch.randperm(len(pools), generator=g)[:ways] if ways <= len(pools) else \
            torch.randint(len(pools), (ways,), generator=g)
        batch = []
        for c in picks.tolist():
            if used[c] + per_class > len(order[c]):  # a class's cycle ends: a new shuffle of it
                order[c], used[c] = pools[c][torch.randperm(len(pools[c]), generator=g)], 0
            take = order[c][used[c]:used[c] + per_class]
            batch.append(take.repeat(-(-per_class // len(take)))[:per_class])  # a class smaller than per_class
            used[c] += per_class
        out.append(torch.cat(batch))
    return out


def balanced_order(labels: torch.Tensor, n: int, g: torch.Generator) -> torch.Tensor:
    """n indices drawn with replacement so that each class present is drawn equally often in expectation (each
    image with probability 1 / (classes * its class's count)): --sampler balanced."""
    counts = torch.bincount(labels)
    weights = 1.0 / counts[labels].double()
    return torch.multinomial(weights, n, replacement=True, generator=g)


def fits_on(device: torch.device, images: torch.Tensor, share: float = 0.5) -> bool:
    """Whether `images` take at most `share` of the device's free memory (always, for the CPU)."""
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return images.numel() * images.element_size() <= share * free


Transform = Callable[[torch.Tensor, torch.Tensor, torch.Generator], tuple[torch.Tensor, torch.Tensor]]


class TensorLoader:
    """Yields (images float (B, C, H, W) in [0, 1], targets (B, ...)) on `device`, from uint8 images (N, C, H, W)
    and targets (N, ...) (class labels, masks) kept in memory: the loader every task's training shares.

    The data are moved to the device once, as uint8, when they take at most half of the GPU's free memory;
    a larger set stays in pinned host memory and each batch is copied over without blocking. Epoch e's order
    and augmentation (`transform(x, targets, generator)`, on the compute device) depend only on (seed, e), so
    a resumed run sees exactly the batches an uninterrupted one would.

    With `world` > 1 (data-parallel training), rank `rank` keeps only its shard, samples rank, rank + world,
    ...; a shuffled (training) loader cuts every shard to the same length and yields batch_size / world
    samples a step, in the same order on every rank, so that the ranks' batches together make one global
    batch of batch_size.
    """

    def __init__(self, images: torch.Tensor, targets: torch.Tensor, batch_size: int, *, shuffle: bool = False,
                 transform: Transform | None = None, seed: int = 0, drop_last: bool = False,
                 device: torch.device | str = "cpu", rank: int = 0, world: int = 1,
                 per_class: int | None = None, balanced: bool = False) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if world > 1:
            if shuffle and batch_size % world:
                raise CnnlabError(f"the batch size {batch_size} does not divide among {world} ranks; pick a "
                                  f"multiple of {world}")
            end = len(images) // world * world if shuffle else len(images)
            shard = torch.arange(rank, end, world)
            images, targets = images[shard], targets[shard]
            batch_size = batch_size // world if shuffle else batch_size
        self.rank, self.world = rank, world
        self.device = torch.device(device)
        self.store = self.device if fits_on(self.device, images) else torch.device("cpu")
        self.images, self.targets = images.to(self.store), targets.to(self.store)
        if self.store != self.device:
            self.images, self.targets = self.images.pin_memory(), self.targets.pin_memory()
        self.batch_size, self.shuffle, self.drop_last, self.transform = batch_size, shuffle, drop_last, transform
        self.seed, self.epoch = seed, 0
        self.per_class = per_class if shuffle else None  # class-balanced batches (targets are class labels)
        self.balanced = balanced and shuffle  # an epoch of draws with replacement, every class equally likely

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return batch_count(len(self.targets), self.batch_size, self.shuffle, self.drop_last)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        g, batches = epoch_batches(len(self.targets), self.batch_size, shuffle=self.shuffle, seed=self.seed,
                                   epoch=self.epoch, device=self.store, drop_last=self.drop_last)
        epoch_seed = self.seed * 100_003 + self.epoch  # epoch_batches' seed: (seed, epoch) alone
        if self.per_class:
            cpu = torch.Generator().manual_seed(epoch_seed)
            batches = [b.to(self.store) for b in balanced_batches(self.targets, self.batch_size, self.per_class,
                                                                  cpu, len(batches))]
        elif self.balanced:
            cpu = torch.Generator().manual_seed(epoch_seed)
            order = balanced_order(self.targets.cpu(), len(self.targets), cpu).to(self.store)
            batches = [order[i * self.batch_size:(i + 1) * self.batch_size] for i in range(len(batches))]
        if self.store != self.device:  # augmentation draws on the compute device, seeded the same way
            g = torch.Generator(device=self.device).manual_seed(epoch_seed)
        for idx in batches:
            x = self.images[idx].to(self.device, non_blocking=True).float().div_(255)
            y = self.targets[idx].to(self.device, non_blocking=True)
            yield self.transform(x, y, g) if self.transform is not None else (x, y)


class BatchLoader(TensorLoader):
    """A TensorLoader of an ImageData's images and labels, augmented image by image with `augment`."""

    def __init__(self, data: ImageData, batch_size: int, *, shuffle: bool = False,
                 augment: AugmentConfig | None = None, seed: int = 0, drop_last: bool = False,
                 device: torch.device | str = "cpu", rank: int = 0, world: int = 1,
                 per_class: int | None = None, balanced: bool = False) -> None:
        self.augment = augment or AugmentConfig()
        super().__init__(data.images, data.labels, batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last,
                         transform=self._augment if self.augment.enabled else None, device=device, rank=rank,
                         world=world, per_class=per_class, balanced=balanced)

    @property
    def labels(self) -> torch.Tensor:
        return self.targets

    def _augment(self, x: torch.Tensor, y: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return augment_batch(x, self.augment, g), y
