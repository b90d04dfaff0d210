"""The U-Net's training pieces: loaders of (image, mask) batches, the pixel-wise loss and its metrics, the seeded
split into training and validation."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from cnnlab.data.loader import TensorLoader
from cnnlab.segment.augment import NONE, JointAugment, joint_augment
from cnnlab.segment.data import MaskData
from cnnlab.segment.metrics import confusion, scores
from cnnlab.segment.model import UNet
from cnnlab.train import StepResult


def mask_loader(data: MaskData, batch_size: int, *, shuffle: bool = False, augment: JointAugment = NONE,
                seed: int = 0, device: torch.device | str = "cpu", rank: int = 0, world: int = 1) -> TensorLoader:
    """(images float (B, C, S, S) in [0, 1], masks int64 (B, S, S)), shuffled and jointly augmented per (seed,
    epoch) when `shuffle`; sharded over the ranks of a data-parallel run."""
    def transform(x: torch.Tensor, y: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return joint_augment(x, y, augment, g)

    return TensorLoader(data.images, data.masks, batch_size, shuffle=shuffle, seed=seed, device=device,
                        transform=transform if shuffle and augment.enabled else None, rank=rank, world=world)


def segmentation_step(num_classes: int, weight: torch.Tensor | None = None):
    """Pixel-wise cross-entropy, each class weighted by `weight` (K,) when given (--class-weights auto)."""
    def step(model, x: torch.Tensor, y: torch.Tensor) -> StepResult:
        logits = model(x)  # (B, K, S, S)
        loss = F.cross_entropy(logits.float(), y, weight=weight)
        return StepResult(loss, {"conf": confusion(logits.argmax(1), y, num_classes).flatten().float()}, len(y))

    return step


def finalize_metrics(num_classes: int):
    def finalize(metrics: dict) -> dict:
        result = scores(torch.tensor(metrics.pop("conf")).view(num_classes, num_classes))
        return {**metrics, "acc": result["pixel_acc"], "miou": result["miou"], "dice": result["dice"],
                "mean_acc": result["mean_acc"], "iou": result["iou"]}

    return finalize


def split_rows(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The training and validation rows of `n` masked images: a seeded share `fraction` held out."""
    order = np.random.default_rng(seed).permutation(n)
    held = min(max(1, round(n * fraction)), n - 2)  # at least two left to train on
    return np.sort(order[held:]), np.sort(order[:held])


def split(data: MaskData, fraction: float, seed: int) -> tuple[MaskData, MaskData]:
    train, val = split_rows(len(data), fraction, seed)
    return data.subset(train), data.subset(val)


@torch.no_grad()
def predict_masks(model: UNet, x: torch.Tensor) -> torch.Tensor:
    model.eval()
    return model(x).argmax(1)
