"""`cnnlab segment evaluate`: a run's best U-Net judged on its validation images (or on other masked images),
with the same numbers training reports: pixel accuracy, mean IoU, Dice and each class's IoU."""

from __future__ import annotations

from pathlib import Path

import torch

from cnnlab.checks import check_split
from cnnlab.cliutil import fresh_path
from cnnlab.errors import DataError
from cnnlab.segment.metrics import confusion, scores
from cnnlab.train.device import AsTrained
from cnnlab.train.run import write_json_atomic


@torch.no_grad()
def confusion_of(model, data, batch_size: int = 16, *, precision: str = "auto",
                 channels_last: str = "auto") -> torch.Tensor:
    """(K, K) pixel counts of the model's masks against `data`'s (a MaskData), rows true class; the model run in
    the run's `precision` and memory layout, as training validated it."""
    from cnnlab.segment.training import mask_loader

    k = model.spec.num_classes
    net = AsTrained(model, model.mean.device, precision, channels_last)
    matrix = torch.zeros(k, k, dtype=torch.long)
    for x, y in mask_loader(data, batch_size):
        masks = net(x).argmax(1)  # logits (B, K, S, S) -> masks (B, S, S)
        matrix += confusion(masks.cpu(), y.cpu(), k)
    return matrix


SPLITS = ("val", "train")  # segment runs hold no test split


def evaluate_run(run_path: str | Path, data: str | None = None, out: str | Path | None = None,
                 device: str = "cpu", split: str | None = None) -> dict:
    """The run's best model (on `device`) on one of its splits (`split`: val, the default, or train) or on every
    image of `data` (digits or LAYOUT:PATH, resized to the run's size)."""
    check_split(split, data, SPLITS)
    from cnnlab.segment.predict import open_unet
    from cnnlab.segment.training import load_mask_data, load_splits
    from cnnlab.train.device import resolve_device

    run, cfg, model, classes = open_unet(run_path)
    model.to(resolve_device(device))
    if data is None:
        judged = split or "val"
        train, val = load_splits(cfg)
        images = val if judged == "val" else train
    else:
        judged, images = data, load_mask_data(data, cfg.image_size)
        if images.classes != classes or images.images.shape[1] != model.spec.in_channels:
            raise DataError(f"{data} has classes {images.classes} in {images.images.shape[1]} channel(s); the run "
                            f"was trained on {classes} in {model.spec.in_channels}")
    s = scores(confusion_of(model, images, precision=cfg.precision, channels_last=cfg.channels_last))
    result = {"judged": judged, "count": len(images), "pixel_acc": s["pixel_acc"], "miou": s["miou"],
              "dice": s["dice"], "mean_acc": s["mean_acc"], "iou": dict(zip(classes, s["iou"], strict=True)),
              "class_acc": dict(zip(classes, s["class_acc"], strict=True))}
    if out is not None:
        write_json_atomic(fresh_path(out), result)
    return result
