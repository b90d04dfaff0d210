"""Boxed images as tensors: every image decoded as a person sees it, put into the S x S square (stretched or
letterboxed, see frame.py), its boxes moved with it into the square's unit frame; and a built-in set
(scikit-learn's digits pasted onto a canvas at known places)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from cnnlab.data.boxes.core import BoxSet, upright_size
from cnnlab.data.boxes.frame import fit_image, regions, to_frame
from cnnlab.data.pixels import open_image
from cnnlab.errors import DataError


@dataclass
class BoxData:
    """images uint8 (N, C, S, S); targets float (N, M, 5): class index, x0, y0, x1, y1 in [0, 1] of the square
    the network sees (rows of class -1 pad images with fewer than M boxes); sizes (N, 2) the images' own width
    and height; resize how they went into the square (stretch or letterbox)."""

    images: torch.Tensor
    targets: torch.Tensor
    classes: list[str]
    paths: list[str]
    sizes: torch.Tensor
    resize: str = "stretch"

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, index) -> BoxData:
        index = torch.as_tensor(index, dtype=torch.long)
        return BoxData(self.images[index], self.targets[index], self.classes, [self.paths[i] for i in index.tolist()],
                       self.sizes[index], self.resize)

    @property
    def regions(self) -> torch.Tensor:
        """(N, 4) where each image lies in the square (x0, y0, x1, y1 in [0, 1]); (0, 0, 1, 1) when stretched."""
        return regions(self.sizes, self.images.shape[-1], self.resize)

    @property
    def labels(self) -> torch.Tensor:
        """(N,) the class of each image's largest box: the object of single-object localization."""
        return self.targets[torch.arange(len(self)), largest_box(self.targets), 0].long()


def largest_box(targets: torch.Tensor) -> torch.Tensor:
    """(N, M, 5) -> (N,) index of each image's largest real box."""
    area = (targets[..., 3] - targets[..., 1]) * (targets[..., 4] - targets[..., 2])
    return torch.where(targets[..., 0] >= 0, area, -1.0).argmax(1)


def _decode(path, size: int, channels: str, stated, resize: str) -> tuple[np.ndarray, tuple[int, int]]:
    img = open_image(path, channels, side=size)  # upright, palette/alpha/GIF-as-.jpg handled
    own = img.size
    if stated is None or own != tuple(stated):
        own = upright_size(path)  # a JPEG decoded at reduced size: its header has the true size
        if stated is not None and own != tuple(stated):
            raise DataError(f"{path} is {own[0]}x{own[1]} but its annotation says {stated[0]}x{stated[1]}; fix the "
                            "annotation's image size")
    return np.asarray(fit_image(img, size, resize)), own


def box_tensors(boxes: BoxSet, size: int, channels: str = "RGB", classes: list[str] | None = None,
                resize: str = "stretch") -> BoxData:
    """Decode every image of `boxes` (on a small thread pool) into the `size` square, stretched or letterboxed;
    `classes` fixes the class order (a trained model's): a box of another class is an error naming its image."""
    classes = list(classes or boxes.classes)
    index = {c: i for i, c in enumerate(classes)}
    for item in boxes.items:
        unknown = sorted({b.label for b in item.boxes} - set(index))
        if unknown:
            raise DataError(f"{item.path}: class {', '.join(map(repr, unknown))} is not one of the model's classes "
                            f"{classes}")
    with ThreadPoolExecutor(max_workers=4) as pool:
        decoded = list(pool.map(lambda it: _decode(it.path, size, channels, it.size, resize), boxes.items))
    sizes = torch.tensor([own for _, own in decoded]).reshape(-1, 2)
    most = max(len(item.boxes) for item in boxes.items)
    targets = torch.full((len(boxes), most, 5), -1.0)
    for i, (item, (width, height)) in enumerate(zip(boxes.items, sizes.tolist(), strict=True)):
        for j, b in enumerate(item.boxes):
            targets[i, j] = torch.tensor([index[b.label], b.x0 / width, b.y0 / height, b.x1 / width, b.y1 / height])
    where = regions(sizes, size, resize)  # (N, 4): boxes go into the square as their images did
    targets[..., 1:] = torch.where(targets[..., :1] >= 0, to_frame(targets[..., 1:], where[:, None]), targets[..., 1:])
    x = np.stack([d for d, _ in decoded])
    x = x[..., None] if x.ndim == 3 else x
    return BoxData(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))), targets, classes,
                   [str(item.path) for item in boxes.items], sizes, resize)


def digit_canvas(size: int = 64, count: int = 600, digits: tuple[int, ...] = (0, 1, 2), seed: int = 0,
                 objects: int = 1) -> BoxData:
    """Real handwritten digits (scikit-learn's, which ship with it) pasted at random places and sizes on a noisy
    canvas: `objects` digits an image, each box known exactly. Classes are the digits' names."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    pick = np.flatnonzero(np.isin(bunch.target, digits))
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 60, (count, size, size)).astype(np.float32)
    targets = torch.full((count, objects, 5), -1.0)
    for i in range(count):
        for j in range(objects):
            k = rng.choice(pick)
            side = int(rng.integers(size // 4, size // 2 + 1))
            x0, y0 = (int(v) for v in rng.integers(0, size - side + 1, 2))
            glyph = Image.fromarray((bunch.images[k] * 255 / 16).astype(np.uint8)).resize((side, side))
            patch = images[i, y0:y0 + side, x0:x0 + side]
            np.maximum(patch, np.asarray(glyph, np.float32), out=patch)
            label = digits.index(int(bunch.target[k]))
            targets[i, j] = torch.tensor([label, x0 / size, y0 / size, (x0 + side) / size, (y0 + side) / size])
    pixels = torch.from_numpy(images.clip(0, 255).astype(np.uint8))[:, None].expand(-1, 3, -1, -1).contiguous()
    return BoxData(pixels, targets, [str(d) for d in digits], [f"digit-canvas-{i}" for i in range(count)],
                   torch.tensor([[size, size]] * count))


class BoxLoader:
    """(images float (B, C, S, S) in [0, 1], targets float (B, M, 5)) on `device`, shuffled and augmented per
    (seed, epoch) so that a resumed run sees the batches an uninterrupted one would."""

    def __init__(self, data: BoxData, batch_size: int, *, shuffle: bool = False, augment=None, seed: int = 0,
                 device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.images, self.targets = data.images.to(self.device), data.targets.to(self.device)
        self.batch_size, self.shuffle, self.augment, self.seed, self.epoch = batch_size, shuffle, augment, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        from cnnlab.data.loader import batch_count

        return batch_count(len(self.images), self.batch_size, self.shuffle)

    def __iter__(self):
        from cnnlab.data.boxes.augment import augment_boxes
        from cnnlab.data.loader import epoch_batches

        g, batches = epoch_batches(len(self.images), self.batch_size, shuffle=self.shuffle, seed=self.seed,
                                   epoch=self.epoch, device=self.device)
        for idx in batches:
            x, y = self.images[idx].float() / 255, self.targets[idx]
            if self.shuffle and self.augment is not None:
                x, y = augment_boxes(x, y, self.augment, g)
            yield x, y
