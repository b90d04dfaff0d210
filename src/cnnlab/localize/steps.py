"""A localize training step (loss = cls_weight * class loss + box_weight * box loss, plus objectness for the grid
head) and predictions for both heads in one form: per image (boxes xyxy in [0, 1], scores, labels)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchvision.ops import generalized_box_iou_loss

from cnnlab.data.boxes.tensors import largest_box
from cnnlab.localize.detect import decode, detection_loss
from cnnlab.localize.metrics import paired_iou
from cnnlab.train.epoch import StepResult


def box_loss_fn(name: str):
    """(pred (P, 4), true (P, 4)) xyxy in [0, 1] -> scalar: mse (the lecture's), smooth-l1 or giou."""
    if name == "mse":
        return lambda p, t: F.mse_loss(p, t)
    if name == "smooth-l1":
        return lambda p, t: F.smooth_l1_loss(p, t, beta=0.05)  # coordinates live in [0, 1]: a small beta
    return lambda p, t: generalized_box_iou_loss(p, t, reduction="mean") + F.l1_loss(p, t)


def main_object(targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, M, 5) -> (labels (N,), boxes (N, 4)): each image's largest box, the one object to localize."""
    row = targets[torch.arange(len(targets), device=targets.device), largest_box(targets)]
    return row[:, 0].long(), row[:, 1:]


def localize_step(head: str, box_loss: str, cls_weight: float, box_weight: float):
    """The step fit runs: sums of class accuracy, IoU with the main box, hits (class right and IoU >= 0.5) and
    the two loss parts, per image."""
    loss_fn = box_loss_fn(box_loss)

    def step(model, x: torch.Tensor, targets: torch.Tensor) -> StepResult:
        out = model(x)
        labels, boxes = main_object(targets)
        if head == "single":
            cls_part = F.cross_entropy(out["logits"].float(), labels)
            box_part = loss_fn(out["boxes"], boxes)
            loss = cls_weight * cls_part + box_weight * box_part
            pred_boxes, pred_labels = out["boxes"].detach(), out["logits"].argmax(1)
        else:
            loss, cls_part, box_part = detection_loss(out["grid"], targets, loss_fn, cls_weight, box_weight)
            top = [(b[:1], lab[:1]) for b, _, lab in decode(out["grid"].detach(), max_boxes=1)]
            pred_boxes, pred_labels = torch.cat([b for b, _ in top]), torch.cat([lab for _, lab in top])
        iou = paired_iou(pred_boxes.float(), boxes)
        right = pred_labels == labels
        n = len(x)
        return StepResult(loss, {"acc": right.sum(), "iou": iou.sum(), "hit": (right & (iou >= 0.5)).sum(),
                                 "cls_loss": cls_part.detach() * n, "box_loss": box_part.detach() * n}, n)

    return step


@torch.no_grad()
def predict_boxes(model, x: torch.Tensor, **decode_options) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Per image (boxes (P, 4) xyxy in [0, 1], scores (P,), labels (P,)), best first; the single head gives one."""
    model.eval()
    out = model(x)
    if "grid" in out:
        return decode(out["grid"], **decode_options)
    prob = torch.softmax(out["logits"].float(), 1)
    score, label = prob.max(1)
    return [(out["boxes"][i:i + 1].float(), score[i:i + 1], label[i:i + 1]) for i in range(len(x))]
