"""Unequal classes: the loss weights of `--class-weights auto`, the same rule for images (classify) and pixels
(segment). Light to import: the option's choices are read by the command line before torch."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

CLASS_WEIGHTS = ("none", "auto")


def class_weights(labels: torch.Tensor, classes: int) -> torch.Tensor:
    """--class-weights auto: each class weighted by N / (K * n_c) over the N labels of training (image labels, or
    every mask pixel), so that every class weighs the same in the loss in all (scikit-learn's "balanced"); a class
    without a training label gets weight 0."""
    import torch

    counts = torch.bincount(labels.flatten(), minlength=classes).double()
    return torch.where(counts > 0, labels.numel() / (classes * counts.clamp(min=1)), 0.0).float()
