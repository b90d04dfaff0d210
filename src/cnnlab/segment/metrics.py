"""Segmentation metrics from a confusion matrix: pixel accuracy, per-class IoU, mean IoU, Dice."""

from __future__ import annotations

import torch


def confusion(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """pred, target int64 (...) -> (K, K) counts, rows true class, columns predicted."""
    index = target.flatten() * num_classes + pred.flatten()
    return torch.bincount(index, minlength=num_classes * num_classes).view(num_classes, num_classes)


def scores(matrix: torch.Tensor) -> dict:
    """pixel_acc, iou (per class), miou (over classes present in truth or prediction), dice (mean), class_acc (per
    class: the share of its pixels predicted as it, the recall) and mean_acc (over classes present in truth: the
    "mean accuracy" of the FCN paper, which unequal classes do not inflate as they do pixel_acc)."""
    m = matrix.double()
    tp = m.diag()
    true, pred = m.sum(1), m.sum(0)
    union = true + pred - tp
    present = union > 0
    iou = torch.where(present, tp / union.clamp_min(1), torch.nan)
    dice = torch.where(present, 2 * tp / (true + pred).clamp_min(1), torch.nan)
    recall = torch.where(true > 0, tp / true.clamp_min(1), torch.nan)
    return {"pixel_acc": float(tp.sum() / m.sum().clamp_min(1)), "iou": iou.tolist(),
            "miou": float(iou[present].mean()) if present.any() else float("nan"),
            "dice": float(dice[present].mean()) if present.any() else float("nan"), "class_acc": recall.tolist(),
            "mean_acc": float(recall[true > 0].mean()) if (true > 0).any() else float("nan")}
