"""Train a U-Net into a run folder: phases (frozen encoder, then optional fine-tuning), per-epoch metrics
and the seed's display (input / true mask / predicted mask) for fixed validation images."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from cnnlab.checks import check_choice, check_device, check_number, config_with_augment
from cnnlab.data.leaks import leak_note
from cnnlab.errors import ConfigError, DataError, UnknownNameError
from cnnlab.options import said
from cnnlab.report.plots import save_image_grid
from cnnlab.segment.augment import JointAugment
from cnnlab.segment.data import LAYOUTS, MaskData
from cnnlab.segment.model import UNet, create_unet
from cnnlab.segment.report import write_report
from cnnlab.segment.steps import finalize_metrics, mask_loader, predict_masks, segmentation_step, split
from cnnlab.train import (
    FitConfig,
    FitState,
    RunDir,
    Task,
    distributed,
    fit,
    resolve_device,
    seed_everything,
)
from cnnlab.train.balance import CLASS_WEIGHTS, class_weights
from cnnlab.train.config import frozen_then_finetune
from cnnlab.train.names import check_run_name, default_run_name
from cnnlab.train.run import start_run

SHARED_OPTIONS = ("batch_size", "seed", "device", "precision", "patience", "grad_clip", "max_seconds", "ema",
                  "compile", "channels_last", "tensorboard")  # the training options segment shares with every task


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
    drop_leaks: bool = False  # leave out validation images that duplicate a training image
    class_weights: str = "none"  # auto: each class weighted by N / (K * its training pixels) in the loss
    freeze_epochs: int = 10  # with the encoder frozen (the seed's setting)
    finetune_epochs: int = 0  # then with the encoder trained too
    freeze_lr: float = 1e-3  # Adam, as the seed
    finetune_lr: float = 1e-4
    batch_size: int = 16
    seed: int = 0
    device: str = "auto"
    name: str | None = None
    runs_dir: str = "runs"
    precision: str = "auto"  # the shared training options (cnnlab.train.options), as FitConfig takes them
    patience: int | None = None
    grad_clip: float | None = None
    max_seconds: float | None = None
    ema: float | None = None
    compile: bool = False
    channels_last: str = "auto"
    tensorboard: bool = False

    def __post_init__(self) -> None:
        """Refuse values out of their choices or ranges, before any data is read or folder made."""
        check_data_spec(self.data)
        check_number("image_size", self.image_size, low=32, high=MAX_IMAGE_SIZE, integer=True)
        if self.image_size % 32:
            raise ConfigError(f"{said('image_size')} must be a multiple of 32 for the U-Net; use "
                              f"{-(-self.image_size // 32) * 32}")
        check_encoder(self.encoder)
        if not isinstance(self.pretrained, bool):
            raise ConfigError(f"pretrained must be true or false, got {self.pretrained!r}")
        if self.weights is not None and (not isinstance(self.weights, str) or not self.weights.strip()):
            raise ConfigError(f"{said('weights')} must be a file, got {self.weights!r}")
        check_number("dropout", self.dropout, low=0, high=1, high_open=True)
        if not isinstance(self.augment, JointAugment):
            raise ConfigError(f"augment must be a JointAugment, got {self.augment!r}")
        check_number("val_fraction", self.val_fraction, low=0, high=1, low_open=True, high_open=True)
        check_choice("class_weights", self.class_weights, CLASS_WEIGHTS)
        if not isinstance(self.drop_leaks, bool):
            raise ConfigError(f"{said('drop_leaks')} must be true or false, got {self.drop_leaks!r}")
        check_number("freeze_epochs", self.freeze_epochs, low=0, integer=True)
        check_number("finetune_epochs", self.finetune_epochs, low=0, integer=True)
        if self.freeze_epochs + self.finetune_epochs < 1:
            raise ConfigError(f"{said('freeze_epochs')} and {said('finetune_epochs')} are both 0: give at least one "
                              "epoch to train")
        check_number("freeze_lr", self.freeze_lr, low=0, low_open=True, high=10)
        check_number("finetune_lr", self.finetune_lr, low=0, low_open=True, high=10)
        check_number("batch_size", self.batch_size, low=2, high=1 << 16, integer=True)  # BatchNorm needs 2
        check_number("seed", self.seed, low=0, high=2**32 - 1, integer=True)
        check_device(self.device)
        if self.name is not None and not isinstance(self.name, str):
            raise ConfigError(f"{said('name')} must be a folder name, got {self.name!r}")
        check_run_name(self.name)
        if not isinstance(self.runs_dir, str) or not self.runs_dir.strip():
            raise ConfigError(f"{said('runs_dir')} must be a folder, got {self.runs_dir!r}")
        self.fit_config()  # the shared options are checked as FitConfig checks them

    @property
    def run_path(self) -> Path:
        return Path(self.runs_dir) / "segment" / (self.name or default_run_name("unet", self.encoder,
                                                                                self.data.split(":")[0]))

    def to_dict(self) -> dict:
        return asdict(self)

    def fit_config(self) -> FitConfig:
        phases = frozen_then_finetune(self.freeze_epochs, self.freeze_lr, self.finetune_epochs, self.finetune_lr,
                                      pretrained=self.pretrained or bool(self.weights))
        shared = {k: getattr(self, k) for k in SHARED_OPTIONS}
        return FitConfig(**shared, phases=phases)

    @classmethod
    def from_dict(cls, d: dict) -> SegmentConfig:
        """The config of a run folder's config.json; RunFolderError when it is not a segment run's. Runs made
        before the rooms shared their phase names called the frozen phase epochs/lr."""
        if isinstance(d, dict) and "freeze_epochs" not in d and "epochs" in d:
            d = {**{k: v for k, v in d.items() if k not in ("epochs", "lr")}, "freeze_epochs": d["epochs"],
                 **({"freeze_lr": d["lr"]} if "lr" in d else {})}
        return config_with_augment(cls, d, REQUIRED_KEYS, JointAugment, "segment")


# Keys every segment run's config.json has had: a config.json without them is another task's.
REQUIRED_KEYS = ("data", "image_size", "encoder", "freeze_epochs", "finetune_epochs", "augment")
MAX_IMAGE_SIZE = 2048
MIN_IMAGES = 3  # two to train on (BatchNorm needs a pair), one to validate


def check_data_spec(spec: str) -> None:
    """'digits', or LAYOUT:PATH with LAYOUT one of folder, isbi, oxford-pet (the path is checked when read)."""
    layout, _, path = spec.partition(":") if isinstance(spec, str) else ("", "", "")
    if spec != "digits" and (layout not in LAYOUTS or not path.strip()):
        raise ConfigError(f"{said('data')} must be digits or one of {', '.join(f'{k}:PATH' for k in LAYOUTS)}; got "
                          f"{spec!r}")


def check_encoder(name: str) -> None:
    import difflib

    import timm

    known = timm.list_models()
    if not isinstance(name, str) or name not in known:
        close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.6)
        raise UnknownNameError(f"Unknown encoder {name!r}." + (f" Did you mean {', '.join(close)}?" if close else "")
                               + " Use a timm CNN such as efficientnet_lite0, mobilenetv2_100, resnet18 or resnet34.")


def check_data_folder(spec: str) -> None:
    """The folder of LAYOUT:PATH exists: a typo is named before a run folder is made."""
    if spec != "digits":
        path = Path(spec.partition(":")[2]).expanduser()
        if not path.is_dir():
            raise DataError(f"{path} {'is not a folder' if path.exists() else 'does not exist'}; {said('data')} takes "
                            f"{', '.join(f'{k}:PATH' for k in LAYOUTS)} with PATH a folder")


def load_mask_data(spec: str, image_size: int) -> MaskData:
    """'digits', or LAYOUT:PATH with LAYOUT one of folder, isbi, oxford-pet."""
    check_data_spec(spec)
    if spec == "digits":
        return digit_strokes(image_size)
    check_data_folder(spec)
    layout, _, path = spec.partition(":")
    return LAYOUTS[layout](Path(path).expanduser(), image_size)


def digit_strokes(image_size: int, count: int = 600) -> MaskData:
    """scikit-learn's digits with their strokes as the foreground class: a real, built-in segmentation set."""
    from sklearn.datasets import load_digits

    digits = torch.from_numpy(load_digits().images[:count]).float()[:, None] / 16  # (N, 1, 8, 8)
    big = F.interpolate(digits, size=(image_size, image_size), mode="bilinear", align_corners=False)
    masks = (big[:, 0] > 0.5).long()
    images = (big * 255).round().clamp(0, 255).to(torch.uint8)
    return MaskData(images, masks, ["background", "stroke"], [f"digit{i}" for i in range(count)])


def unet_task(cfg: SegmentConfig, train_set: MaskData, val_set: MaskData, device: torch.device, ranks=None
              ) -> tuple[Task, list[tuple[str, str | None]]]:
    """The engine's task for `cfg` (U-Net, step, loaders), sharded over the ranks of a data-parallel run, and what
    to say about it as (line, style)."""
    ranks = ranks or distributed.current()
    classes = train_set.classes
    model = create_unet(cfg.encoder, len(classes), in_channels=train_set.images.shape[1], image_size=cfg.image_size,
                        dropout=cfg.dropout, pretrained=cfg.pretrained, weights=cfg.weights).to(device)
    say = [(note, "cyan") for note in model.notes]
    say.append((f"U-Net on {cfg.encoder}: {len(train_set)} train / {len(val_set)} val images, classes {classes}"
                + (f"; data-parallel over {ranks.world} ranks" if ranks.enabled else ""), None))
    weight = class_weights(train_set.masks, len(classes)) if cfg.class_weights == "auto" else None
    if weight is not None:  # w = N / (K n_c): a class's share of the pixels is 1 / (K w)
        shares = [1 / (len(classes) * w) if w > 0 else 0.0 for w in weight.tolist()]
        say.append(("pixel-class weights: " + ", ".join(f"{c} {w:.2f} ({100 * p:.1f}% of pixels)" for c, w, p in
                                                         zip(classes, weight.tolist(), shares, strict=True)), "cyan"))
    shard = {"device": device, "rank": ranks.rank, "world": ranks.world}
    task = Task("segment", model, segmentation_step(len(classes), None if weight is None else weight.to(device)),
                mask_loader(train_set, cfg.batch_size, shuffle=True, augment=cfg.augment, seed=cfg.seed, **shard),
                mask_loader(val_set, cfg.batch_size, **shard), config=cfg.to_dict(),
                finalize=finalize_metrics(len(classes)))
    return task, say


def train_unet(cfg: SegmentConfig, *, resume: bool = False, overwrite: bool = False, callbacks=(),
               given: set[str] | None = None, aliases: dict[str, tuple[str, ...]] | None = None) -> dict:
    """Train `cfg` into its run folder; returns the summary (validation mIoU, Dice, seconds per epoch)."""
    if not resume:  # a typo in --data or --weights is named before a run folder is made
        check_data_folder(cfg.data)
        if cfg.weights is not None and not Path(cfg.weights).expanduser().is_file():
            raise DataError(f"{said('weights')} {cfg.weights} is not a file")
    ranks = distributed.setup(cfg.device)
    run, cfg, checkpoint = start_run(cfg, SegmentConfig.from_dict, resume=resume, overwrite=overwrite, given=given,
                                     aliases=aliases, extendable=("finetune_epochs",))
    device = distributed.device_for(ranks, resolve_device(cfg.device))
    seed_everything(cfg.seed)
    train_set, val_set, dropped = split_data(cfg)
    if dropped:
        run.log(leak_note({"val": dropped}), style="yellow")
    classes = train_set.classes
    task, say = unet_task(cfg, train_set, val_set, device, ranks)
    for line, style in say:
        run.log(line, style=style)
    model = task.model
    display = epoch_display(run, model, val_set.subset(range(min(4, len(val_set)))), device)
    state = fit(task, cfg.fit_config(), device=device, run=run, checkpoint=checkpoint,
                extra={"spec": model.spec.to_dict(), "classes": classes},
                callbacks=(display, *callbacks) if ranks.main else callbacks)
    if state.status not in ("finished", "early-stopped", "budget-spent") or not ranks.main:
        return {"status": state.status}
    return finish(run, cfg, state, classes, dropped)


def load_splits(cfg: SegmentConfig) -> tuple[MaskData, MaskData]:
    """The run's training and validation images with their masks; DataError when there are too few."""
    train, val, _ = split_data(cfg)
    return train, val


def split_data(cfg: SegmentConfig) -> tuple[MaskData, MaskData, int]:
    """The run's training and validation images with their masks, and how many validation images --drop-leaks
    left out (the seeded split is made anew each time from all the data: the same images leave each time)."""
    data = load_mask_data(cfg.data, cfg.image_size)
    if len(data) < MIN_IMAGES:
        raise DataError(f"{cfg.data} has {len(data)} image(s) with masks; training and validation need at least "
                        f"{MIN_IMAGES}")
    train, val = split(data, cfg.val_fraction, cfg.seed)
    if not cfg.drop_leaks:
        return train, val, 0
    from cnnlab.data.leaks import kept_rows, leaked_held_out

    (leaked,) = leaked_held_out([train.images, val.images])
    if len(leaked) == len(val):
        raise DataError(f"--drop-leaks would leave no validation image: all {len(val)} duplicate a training image")
    return train, val.subset(kept_rows(len(val), leaked)) if leaked else val, len(leaked)


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


def finish(run: RunDir, cfg: SegmentConfig, state: FitState, classes: list[str], dropped: int = 0) -> dict:
    history = state.history
    best = min(history, key=lambda r: r["val_loss"])
    summary = {"status": state.status, "encoder": cfg.encoder, "pretrained": cfg.pretrained,
               "phases": [p.name for p in cfg.fit_config().phases], "epochs": len(history),
               "seconds_per_epoch": sum(r["seconds"] for r in history) / len(history),
               "best_epoch": best["epoch"], "val_miou": best["val_miou"], "val_dice": best["val_dice"],
               "val_pixel_acc": best["val_acc"], "val_mean_acc": best.get("val_mean_acc"),
               "class_weights": cfg.class_weights,
               **({"leaks_dropped": {"val": dropped}} if cfg.drop_leaks else {}),
               "val_iou": dict(zip(classes, best["val_iou"], strict=True))}
    run.write_json("summary.json", summary)
    write_report(run)
    run.log(f"validation mIoU {summary['val_miou']:.3f}, Dice {summary['val_dice']:.3f} (epoch {best['epoch']})",
            style="bold green")
    return summary

