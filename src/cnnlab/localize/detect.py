"""The grid head's targets, loss and decoding (anchor-free, one object per cell, as YOLOv1 and FCOS-like heads).

A true box belongs to the cell its centre falls in (the larger box wins a shared cell). A cell predicts
objectness, class logits and (tx, ty, tw, th): the centre at (col + sigmoid(tx), row + sigmoid(ty)) / G and
the size exp(tw), exp(th) cells (at most the image). Besides the box loss on the decoded corners, the raw
outputs are pulled towards their targets in their own space (binary cross-entropy for the offsets, L1 on
the log sizes), whose gradients never vanish: with the corner loss alone the Pet head boxes' outputs
saturated within the first frozen epoch (every box the whole image) and never recovered (measured).
Decoding keeps cells scoring objectness x class probability above a threshold and runs torchvision's
batched NMS per class.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torchvision.ops import batched_nms

from cnnlab.localize.model import cxcywh_to_xyxy

SCORE_THRESHOLD = 0.05  # decoding keeps cells scoring at least this (and always the best one)
IOU_THRESHOLD = 0.5  # NMS drops a box overlapping a better one of its class by more than this
MAX_BOXES = 100  # per image, after NMS


def grid_boxes(grid: torch.Tensor) -> torch.Tensor:
    """(N, 5 + K, G, G) -> (N, G, G, 4) boxes xyxy in [0, 1] of every cell."""
    n, _, g, _ = grid.shape
    t = grid[:, -4:].float().permute(0, 2, 3, 1)  # (N, G, G, 4)
    offset = torch.sigmoid(t[..., :2])  # where in its cell the centre lies
    size = torch.exp(t[..., 2:].clamp(max=math.log(g))) / g  # in cells, at most the image (no sigmoid to saturate)
    steps = torch.arange(g, device=grid.device, dtype=t.dtype)
    cx = (steps.view(1, 1, g) + offset[..., 0]) / g
    cy = (steps.view(1, g, 1) + offset[..., 1]) / g
    return cxcywh_to_xyxy(torch.stack([cx, cy, size[..., 0], size[..., 1]], -1))


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


def raw_box_loss(grid: torch.Tensor, obj: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
    """The cells holding an object: BCE of their offsets' logits against where the centre lies in the cell, and
    L1 of their log sizes against the true ones, in cells."""
    g = grid.shape[-1]
    t = grid[:, -4:].permute(0, 2, 3, 1)[obj]  # (P, 4) raw
    _, row, col = torch.nonzero(obj, as_tuple=True)
    true = box[obj]  # (P, 4) xyxy in [0, 1]
    centre = torch.stack([(true[:, 0] + true[:, 2]) / 2 * g - col, (true[:, 1] + true[:, 3]) / 2 * g - row], 1)
    size = torch.log(((true[:, 2:] - true[:, :2]) * g).clamp_min(1e-3))
    return F.binary_cross_entropy_with_logits(t[:, :2], centre.clamp(0, 1)) + F.l1_loss(t[:, 2:], size)


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
        box_part = box_loss(grid_boxes(grid)[obj], box[obj]) + raw_box_loss(grid, obj, box)
    else:
        class_part = box_part = grid.sum() * 0
    return objectness + cls_weight * class_part + box_weight * box_part, class_part, box_part


def cell_scores(grid: torch.Tensor) -> torch.Tensor:
    """(N, 5 + K, G, G) -> (N, G*G, K): sigmoid(objectness) x softmax(class logits) of every cell, row by row."""
    prob = torch.sigmoid(grid[:, :1]) * torch.softmax(grid[:, 1:-4], 1)  # (N, K, G, G)
    return prob.flatten(2).transpose(1, 2)


@torch.no_grad()
def decode(grid: torch.Tensor, *, score_threshold: float = SCORE_THRESHOLD, iou_threshold: float = IOU_THRESHOLD,
           max_boxes: int = MAX_BOXES) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """(N, 5 + K, G, G) -> per image (boxes (P, 4) xyxy in [0, 1], scores (P,), labels (P,)), after batched NMS."""
    grid = grid.float()
    boxes = grid_boxes(grid).flatten(1, 2)  # (N, G*G, 4)
    score, label = cell_scores(grid).max(2)  # (N, G*G)
    out = []
    for b, s, lab in zip(boxes, score, label, strict=True):
        keep = s >= score_threshold
        if not keep.any():  # never nothing: the best cell, however unsure
            keep = s == s.max()
        b, s, lab = b[keep], s[keep], lab[keep]
        kept = batched_nms(b, s, lab, iou_threshold)[:max_boxes]
        out.append((b[kept], s[kept], lab[kept]))
    return out
