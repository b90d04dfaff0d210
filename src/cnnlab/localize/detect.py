"""The grid head's targets, loss and decoding (anchor-free, one object per cell, as YOLOv1 and FCOS-like heads).

A true box belongs to the cell its centre falls in (the larger box wins a shared cell). A cell predicts
objectness, class logits and (tx, ty, tw, th): the centre at (col + sigmoid(tx), row + sigmoid(ty)) / G and
the size sigmoid(tw), sigmoid(th) of the image. Decoding keeps cells scoring objectness x class probability
above a threshold and runs torchvision's batched NMS per class.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchvision.ops import batched_nms

from cnnlab.localize.model import cxcywh_to_xyxy


def grid_boxes(grid: torch.Tensor) -> torch.Tensor:
    """(N, 5 + K, G, G) -> (N, G, G, 4) boxes xyxy in [0, 1] of every cell."""
    n, _, g, _ = grid.shape
    t = torch.sigmoid(grid[:, -4:].float()).permute(0, 2, 3, 1)  # (N, G, G, 4)
    steps = torch.arange(g, device=grid.device, dtype=t.dtype)
    cx = (steps.view(1, 1, g) + t[..., 0]) / g
    cy = (steps.view(1, g, 1) + t[..., 1]) / g
    return cxcywh_to_xyxy(torch.stack([cx, cy, t[..., 2], t[..., 3]], -1))


def grid_targets(targets: torch.Tensor, g: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """targets (N, M, 5) -> (object (N, G, G) bool, class (N, G, G) int64, box (N, G, G, 4) xyxy)."""
    n = len(targets)
    obj = torch.zeros(n, g, g, dtype=torch.bool, device=targets.device)
    cls = torch.zeros(n, g, g, dtype=torch.long, device=targets.device)
    box = torch.zeros(n, g, g, 4, device=targets.device)
    area = (targets[..., 3] - targets[..., 1]) * (targets[..., 4] - targets[..., 2])
    order = torch.argsort(torch.where(targets[..., 0] >= 0, area, -1.0), dim=1)  # small first: large ones win
    for j in range(targets.shape[1]):
        t = targets[torch.arange(n), order[:, j]]  # (N, 5)
        real = t[:, 0] >= 0
        col = ((t[:, 1] + t[:, 3]) / 2 * g).long().clamp(0, g - 1)
        row = ((t[:, 2] + t[:, 4]) / 2 * g).long().clamp(0, g - 1)
        idx = torch.nonzero(real).flatten()
        obj[idx, row[idx], col[idx]] = True
        cls[idx, row[idx], col[idx]] = t[idx, 0].long()
        box[idx, row[idx], col[idx]] = t[idx, 1:]
    return obj, cls, box


def detection_loss(grid: torch.Tensor, targets: torch.Tensor, box_loss, cls_weight: float,
                   box_weight: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, class part, box part): objectness BCE (cells with and without objects weighted alike), class
    cross-entropy and the box loss on the cells that hold an object."""
    grid = grid.float()
    obj, cls, box = grid_targets(targets, grid.shape[-1])
    logit = grid[:, 0]
    bce = F.binary_cross_entropy_with_logits(logit, obj.float(), reduction="none")
    objectness = bce[obj].mean() + bce[~obj].mean() if obj.any() else bce.mean()
    if obj.any():
        class_part = F.cross_entropy(grid[:, 1:-4].permute(0, 2, 3, 1)[obj], cls[obj])
        box_part = box_loss(grid_boxes(grid)[obj], box[obj])
    else:
        class_part = box_part = grid.sum() * 0
    return objectness + cls_weight * class_part + box_weight * box_part, class_part, box_part


@torch.no_grad()
def decode(grid: torch.Tensor, *, score_threshold: float = 0.05, iou_threshold: float = 0.5,
           max_boxes: int = 100) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """(N, 5 + K, G, G) -> per image (boxes (P, 4) xyxy in [0, 1], scores (P,), labels (P,)), after batched NMS."""
    grid = grid.float()
    boxes = grid_boxes(grid).flatten(1, 2)  # (N, G*G, 4)
    prob = torch.sigmoid(grid[:, :1]) * torch.softmax(grid[:, 1:-4], 1)  # (N, K, G, G)
    score, label = prob.flatten(2).max(1)  # (N, G*G)
    out = []
    for b, s, lab in zip(boxes, score, label, strict=True):
        keep = s >= score_threshold
        if not keep.any():  # never nothing: the best cell, however unsure
            keep = s == s.max()
        b, s, lab = b[keep], s[keep], lab[keep]
        kept = batched_nms(b, s, lab, iou_threshold)[:max_boxes]
        out.append((b[kept], s[kept], lab[kept]))
    return out
