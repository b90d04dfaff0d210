"""Box metrics: IoU of each prediction with its image's box, and COCO-style mean average precision.

mAP is computed here (about forty lines) rather than through torchmetrics, whose MeanAveragePrecision needs
pycocotools or faster-coco-eval besides; it follows COCO: detections sorted by score, each matched to the
unmatched true box of its class with the highest IoU at or above the threshold, precision made monotone and
read at 101 recall points, averaged over classes that have true boxes (and over IoU 0.50:0.05:0.95).
"""

from __future__ import annotations

import numpy as np
import torch
from torchvision.ops import box_iou

COCO_THRESHOLDS = tuple(round(0.5 + 0.05 * k, 2) for k in range(10))


def paired_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N, 4) and (N, 4) xyxy -> (N,) IoU of each pair."""
    if len(a) == 0:
        return torch.zeros(0)
    return box_iou(a.float(), b.float()).diagonal()


def average_precision(scores: np.ndarray, hits: np.ndarray, true_count: int) -> float:
    """COCO's 101-point interpolated AP of detections with `scores` and whether each is a true positive."""
    if true_count == 0:
        return float("nan")
    if len(scores) == 0:
        return 0.0
    order = np.argsort(-scores, kind="stable")
    tp = np.cumsum(hits[order])
    fp = np.cumsum(~hits[order])
    recall = tp / true_count
    precision = tp / np.maximum(tp + fp, 1)
    precision = np.maximum.accumulate(precision[::-1])[::-1] if len(precision) else precision  # monotone
    points = np.linspace(0, 1, 101)
    at = np.searchsorted(recall, points, side="left")
    return float(np.where(at < len(precision), precision[np.minimum(at, len(precision) - 1)], 0.0).mean())


def _class_ap(preds, truths, cls: int, threshold: float) -> float:
    scores, hits, count = [], [], 0
    for (boxes, score, labels), (true_boxes, true_labels) in zip(preds, truths, strict=True):
        mine, theirs = boxes[labels == cls], true_boxes[true_labels == cls]
        count += len(theirs)
        s = score[labels == cls]
        order = torch.argsort(s, descending=True)
        taken = torch.zeros(len(theirs), dtype=torch.bool)
        ious = box_iou(mine[order].float(), theirs.float()) if len(mine) and len(theirs) else None
        for k in range(len(order)):
            hit = False
            if ious is not None:
                free = torch.where(taken, -1.0, ious[k])
                best = int(free.argmax())
                if free[best] >= threshold:
                    taken[best], hit = True, True
            scores.append(float(s[order[k]]))
            hits.append(hit)
    return average_precision(np.array(scores), np.array(hits, dtype=bool), count)


def mean_average_precision(preds: list[tuple], truths: list[tuple], num_classes: int,
                           thresholds: tuple[float, ...] = COCO_THRESHOLDS) -> dict[str, float]:
    """preds: per image (boxes (P, 4), scores (P,), labels (P,)); truths: per image (boxes (T, 4), labels (T,)).
    Returns {"map50": AP at IoU 0.5, "map": AP averaged over `thresholds`} (classes without true boxes skipped)."""
    table = np.array([[_class_ap(preds, truths, c, t) for c in range(num_classes)] for t in thresholds])
    per_threshold = np.array([np.nanmean(row) if not np.isnan(row).all() else 0.0 for row in table])
    at50 = thresholds.index(0.5) if 0.5 in thresholds else 0
    return {"map50": float(per_threshold[at50]), "map": float(per_threshold.mean())}
