"""Train a U-Net into a run folder: phases (frozen encoder, then optional fine-tuning), per-epoch metrics
and the seed's display (input / true mask / predicted mask) for fixed validation images."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from cnnlab.data.loader import batch_count, epoch_batches
from cnnlab.errors import DataError
from cnnlab.report.html import image, page, table
from cnnlab.report.plots import plot_history, save_image_grid
from cnnlab.segment.augment import NONE, JointAugment, joint_augment
from cnnlab.segment.data import LAYOUTS, MaskData
from cnnlab.segment.metrics import confusion, scores
from cnnlab.segment.model import UNet, create_unet
from cnnlab.train import FitConfig, FitState, PhaseConfig, RunDir, StepResult, fit, resolve_device, seed_everything


@dataclass(frozen=True)
class SegmentConfig:
    data: str = "digits"  # digits (built in: digit strokes), isbi:PATH, oxford-pet:PATH, folder:PATH
    image_size: int = 128  # the seed's 128x128; a multiple of 32
    encoder: str = "efficientnet_lite0"  # any timm CNN with features at strides 2..32
    pretrained: bool = True
    weights: str | None = None
    dropout: float = 0.0  # the seed's optional Dropout 0.5 in the decoder
    augment: JointAugment = field(default_factory=JointAugment)
    val_fraction: float = 0.2
    epochs: int = 10  # with the encoder frozen (the seed's setting)
    finetune_epochs: int = 0  # then with the encoder trained too
    lr: float = 1e-3  # Adam, as the seed
    finetune_lr: float = 1e-4
    batch_size: int = 16
    seed: int = 0
    device: str = "auto"
    name: str | None = None
    runs_dir: str = "runs"

    @property
    def run_path(self) -> Path:
        return Path(self.runs_dir) / "segment" / (self.name or f"unet-{self.encoder}-{self.data.split(':')[0]}")

    def fit_config(self) -> FitConfig:
        phases = (PhaseConfig("frozen", self.epochs, "adam", self.lr, train="head"),
                  PhaseConfig("finetune", self.finetune_epochs, "adam", self.finetune_lr, train="all",
                              freeze_norm_stats=self.pretrained or bool(self.weights)))
        return FitConfig(batch_size=self.batch_size, seed=self.seed, device=self.device,
                         phases=tuple(p for p in phases if p.epochs > 0))

    @classmethod
    def from_dict(cls, d: dict) -> SegmentConfig:
        return cls(**{**d, "augment": JointAugment(**d["augment"])})


def load_mask_data(spec: str, image_size: int) -> MaskData:
    """'digits', or LAYOUT:PATH with LAYOUT one of folder, isbi, oxford-pet."""
    if spec == "digits":
        return digit_strokes(image_size)
    layout, _, path = spec.partition(":")
    if layout not in LAYOUTS or not path:
        raise DataError(f"--data must be digits or one of {', '.join(f'{k}:PATH' for k in LAYOUTS)}; got {spec!r}")
    return LAYOUTS[layout](Path(path).expanduser(), image_size)


def digit_strokes(image_size: int, count: int = 600) -> MaskData:
    """scikit-learn's digits with their strokes as the foreground class: a real, built-in segmentation set."""
    from sklearn.datasets import load_digits

    digits = torch.from_numpy(load_digits().images[:count]).float()[:, None] / 16  # (N, 1, 8, 8)
    big = F.interpolate(digits, size=(image_size, image_size), mode="bilinear", align_corners=False)
    masks = (big[:, 0] > 0.5).long()
    images = (big * 255).round().clamp(0, 255).to(torch.uint8)
    return MaskData(images, masks, ["background", "stroke"], [f"digit{i}" for i in range(count)])


class MaskLoader:
    """(images float (B, C, S, S) in [0, 1], masks int64 (B, S, S)), shuffled and augmented per (seed, epoch)."""

    def __init__(self, data: MaskData, batch_size: int, *, shuffle: bool = False, augment: JointAugment = NONE,
                 seed: int = 0, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.images, self.masks = data.images.to(self.device), data.masks.to(self.device)
        self.batch_size, self.shuffle, self.augment, self.seed, self.epoch = batch_size, shuffle, augment, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return batch_count(len(self.images), self.batch_size, self.shuffle)

    def __iter__(self):
        g, batches = epoch_batches(len(self.images), self.batch_size, shuffle=self.shuffle, seed=self.seed,
                                   epoch=self.epoch, device=self.device)
        for idx in batches:
            x, y = self.images[idx].float() / 255, self.masks[idx]
            if self.shuffle:
                x, y = joint_augment(x, y, self.augment, g)
            yield x, y


def segmentation_step(num_classes: int):
    def step(model, x: torch.Tensor, y: torch.Tensor) -> StepResult:
        logits = model(x)  # (B, K, S, S)
        loss = F.cross_entropy(logits.float(), y)
        return StepResult(loss, {"conf": confusion(logits.argmax(1), y, num_classes).flatten().float()}, len(y))

    return step


def finalize_metrics(num_classes: int):
    def finalize(metrics: dict) -> dict:
        result = scores(torch.tensor(metrics.pop("conf")).view(num_classes, num_classes))
        return {**metrics, "acc": result["pixel_acc"], "miou": result["miou"], "dice": result["dice"],
                "iou": result["iou"]}

    return finalize


def split(data: MaskData, fraction: float, seed: int) -> tuple[MaskData, MaskData]:
    order = np.random.default_rng(seed).permutation(len(data))
    held = max(1, round(len(data) * fraction))
    return data.subset(np.sort(order[held:])), data.subset(np.sort(order[:held]))


@torch.no_grad()
def predict_masks(model: UNet, x: torch.Tensor) -> torch.Tensor:
    model.eval()
    return model(x).argmax(1)


def train_unet(cfg: SegmentConfig, *, resume: bool = False, overwrite: bool = False, callbacks=()) -> dict:
    """Train `cfg` into its run folder; returns the summary (validation mIoU, Dice, seconds per epoch)."""
    run = RunDir.create(cfg.run_path, resume=resume, overwrite=overwrite)
    checkpoint = None
    if resume:
        cfg = SegmentConfig.from_dict(run.read_json("config.json"))
        checkpoint = run.load_checkpoint()
    else:
        run.write_json("config.json", asdict(cfg))
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed)
    train_set, val_set = split(load_mask_data(cfg.data, cfg.image_size), cfg.val_fraction, cfg.seed)
    classes = train_set.classes
    model = create_unet(cfg.encoder, len(classes), in_channels=train_set.images.shape[1], image_size=cfg.image_size,
                        dropout=cfg.dropout, pretrained=cfg.pretrained, weights=cfg.weights).to(device)
    for note in model.notes:
        run.log(note, style="cyan")
    run.log(f"U-Net on {cfg.encoder}: {len(train_set)} train / {len(val_set)} val images, classes {classes}")
    shown = val_set.subset(range(min(4, len(val_set))))
    display = epoch_display(run, model, shown, device)
    fit_cfg = cfg.fit_config()
    state = fit(model, segmentation_step(len(classes)),
                MaskLoader(train_set, cfg.batch_size, shuffle=True, augment=cfg.augment, seed=cfg.seed, device=device),
                MaskLoader(val_set, cfg.batch_size, device=device), fit_cfg, device=device, run=run,
                checkpoint=checkpoint, extra={"spec": model.spec.to_dict(), "classes": classes},
                callbacks=(display, *callbacks), finalize=finalize_metrics(len(classes)))
    if state.status not in ("finished", "early-stopped", "budget-spent"):
        return {"status": state.status}
    return finish(run, cfg, state, classes)


def epoch_display(run: RunDir, model: UNet, shown: MaskData, device):
    """A callback saving the seed's display (input / true mask / predicted mask) after every epoch."""
    def save(epoch: int, record: dict) -> None:
        x = shown.images.to(device).float() / 255
        pred = predict_masks(model, x).cpu()
        k = max(len(shown.classes) - 1, 1)
        rows = [torch.stack([x.cpu().expand(-1, 3, -1, -1)[i], (shown.masks[i] / k).expand(3, -1, -1),
                             (pred[i] / k).expand(3, -1, -1)]) for i in range(len(x))]
        save_image_grid(torch.stack(rows), run.path / "epochs" / f"epoch_{epoch:03d}.png",
                        col_labels=["input", "true mask", "predicted"])

    return save


def finish(run: RunDir, cfg: SegmentConfig, state: FitState, classes: list[str]) -> dict:
    history = state.history
    best = min(history, key=lambda r: r["val_loss"])
    summary = {"status": state.status, "encoder": cfg.encoder, "pretrained": cfg.pretrained,
               "phases": [p.name for p in cfg.fit_config().phases], "epochs": len(history),
               "seconds_per_epoch": sum(r["seconds"] for r in history) / len(history),
               "best_epoch": best["epoch"], "val_miou": best["val_miou"], "val_dice": best["val_dice"],
               "val_pixel_acc": best["val_acc"], "val_iou": dict(zip(classes, best["val_iou"], strict=True))}
    run.write_json("summary.json", summary)
    plot_history(history, run.path / "history.png", f"U-Net ({cfg.encoder}) on {cfg.data}")
    last = sorted((run.path / "epochs").glob("epoch_*.png"))
    rows = [{k: v for k, v in r.items() if not isinstance(v, list)} for r in history]
    (run.path / "report.html").write_text(page(f"U-Net ({cfg.encoder}) on {cfg.data}", [
        ("Summary", table([{"": k, "value": v} for k, v in summary.items()])),
        ("Curves", image(run.path / "history.png")),
        ("Validation samples, last epoch", image(last[-1]) if last else ""),
        ("Per-epoch metrics", table(rows))]))
    run.log(f"validation mIoU {summary['val_miou']:.3f}, Dice {summary['val_dice']:.3f} (epoch {best['epoch']})",
            style="bold green")
    return summary

