"""Frozen vs fine-tuned encoders (and with/without decoder dropout, and a random encoder): quality and speed."""

from __future__ import annotations

from dataclasses import replace

from cnnlab.checks import check_number
from cnnlab.console import console
from cnnlab.segment.training import SegmentConfig, train_unet


def compare_configs(base: SegmentConfig, finetune_epochs: int) -> list[SegmentConfig]:
    """Same data and epochs: frozen, frozen then fine-tuned, both with dropout 0.5, and a random encoder.
    All five are built (so checked) before any of them trains."""
    check_number("finetune_epochs", finetune_epochs, low=0, integer=True)
    name = base.name or "seg"
    total = base.freeze_epochs + finetune_epochs
    frozen = replace(base, freeze_epochs=total, finetune_epochs=0, dropout=0.0, name=f"{name}-frozen")
    tuned = replace(base, finetune_epochs=finetune_epochs, dropout=0.0, name=f"{name}-finetuned")
    return [frozen, replace(frozen, dropout=0.5, name=f"{name}-frozen-dropout"), tuned,
            replace(tuned, dropout=0.5, name=f"{name}-finetuned-dropout"),
            replace(base, pretrained=False, weights=None, freeze_epochs=0, finetune_epochs=total, dropout=0.0,
                    name=f"{name}-random-encoder")]


def compare_segmentation(base: SegmentConfig, finetune_epochs: int, *, overwrite: bool = False) -> list[dict]:
    rows = []
    for cfg in compare_configs(base, finetune_epochs):
        console.rule(cfg.name)
        s = train_unet(cfg, overwrite=overwrite)
        rows.append({"run": cfg.name, "encoder": "pretrained" if cfg.pretrained else "random",
                     "phases": "+".join(s["phases"]), "dropout": cfg.dropout, "epochs": s["epochs"],
                     "val pixel acc": round(s["val_pixel_acc"], 4), "val mIoU": round(s["val_miou"], 4),
                     **{f"IoU {c}": round(v, 4) for c, v in s["val_iou"].items()},
                     "val Dice": round(s["val_dice"], 4), "s/epoch": round(s["seconds_per_epoch"], 2)})
    return rows
