"""Judge a localizer on boxed images: IoU per image (its best prediction against its main box), mean IoU,
accuracy at IoU >= 0.5 (class and box right), class accuracy, and mAP@0.5 and mAP@0.5:0.95 over all boxes.

Boxes are judged in each image's own frame (fractions of its width and height: the IoU of its pixel boxes), the
predictions taken out of the square the network saw, so stretched and letterboxed runs compare."""

from __future__ import annotations

import torch

from cnnlab.data.boxes.frame import from_frame
from cnnlab.data.boxes.tensors import BoxData
from cnnlab.localize.metrics import mean_average_precision, paired_iou
from cnnlab.localize.steps import main_object, predict_boxes
from cnnlab.train.device import AsTrained


@torch.no_grad()
def predict_all(model, data: BoxData, device: torch.device, batch_size: int = 64) -> list[tuple]:
    """Per image (boxes, scores, labels) on the CPU, in the data's order; the model run in the precision and
    memory layout that training validated it in (localize takes the engine's defaults)."""
    net = AsTrained(model, device)
    preds = []
    for start in range(0, len(data), batch_size):
        x = net.inputs(data.images[start:start + batch_size].float() / 255)
        with net.context():
            preds += [tuple(t.float().cpu() for t in p) for p in predict_boxes(model, x)]
    return preds


def image_targets(data: BoxData) -> torch.Tensor:
    """data.targets (N, M, 5) with the boxes in each image's own frame instead of the square's."""
    out = data.targets.clone()
    out[..., 1:] = torch.where(out[..., :1] >= 0, from_frame(out[..., 1:], data.regions[:, None]), out[..., 1:])
    return out


def evaluate_boxes(model, data: BoxData, device: torch.device) -> dict:
    """{"mean_iou", "acc50", "class_acc", "map50", "map", "count", "per_image": [{path, iou, true, pred, score}],
    "predictions": per image (boxes in the square, as drawn on data.images, scores, labels)}."""
    preds = predict_all(model, data, device)
    where = data.regions
    own = [(from_frame(b, where[i]), s, lab) for i, (b, s, lab) in enumerate(preds)]  # the images' own frames
    targets = image_targets(data)
    labels, boxes = main_object(targets)
    top_boxes = torch.cat([b[:1] for b, _, _ in own])
    top_labels = torch.cat([lab[:1] for _, _, lab in own])
    iou = paired_iou(top_boxes, boxes)
    right = top_labels == labels
    truths = [(t[t[:, 0] >= 0, 1:], t[t[:, 0] >= 0, 0].long()) for t in targets]
    ap = mean_average_precision(own, truths, len(data.classes))
    per_image = [{"path": data.paths[i], "iou": float(iou[i]), "true": data.classes[int(labels[i])],
                  "pred": data.classes[int(top_labels[i])], "score": float(preds[i][1][0])} for i in range(len(data))]
    n = max(len(data), 1)
    return {"count": len(data), "mean_iou": float(iou.mean()) if len(data) else 0.0,
            "acc50": float((right & (iou >= 0.5)).sum()) / n, "class_acc": float(right.sum()) / n,
            **ap, "per_image": per_image, "predictions": preds}


def baseline_iou(train: BoxData, test: BoxData) -> float:
    """Mean IoU of always predicting the training set's mean main box (in the images' own frames): what learning
    has to beat."""
    _, train_boxes = main_object(image_targets(train))
    _, test_boxes = main_object(image_targets(test))
    mean = train_boxes.mean(0, keepdim=True).expand_as(test_boxes)
    return float(paired_iou(mean, test_boxes).mean()) if len(test) else 0.0
