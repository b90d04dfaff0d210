"""From options to a segment run: the one function that `cnnlab segment train` and `cnnlab.segment.train(**kw)`
both call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cnnlab.options import Options
from cnnlab.train.config import split_epochs

DEFAULT_EPOCHS = 10  # the seed's, all with the encoder frozen
FIT_OPTIONS = ("batch_size", "seed", "device", "precision", "patience", "grad_clip", "max_seconds", "ema", "compile",
               "channels_last", "tensorboard")
OWN = ("data", "image_size", "encoder", "pretrained", "weights", "dropout", "class_weights", "drop_leaks",
       "freeze_lr", "finetune_lr", "name", "runs_dir")


def config(opts: Mapping[str, Any]):
    """The checked SegmentConfig of `cnnlab segment train` with these options (by field name)."""
    from cnnlab.segment.augment import NONE, JointAugment
    from cnnlab.segment.training import SegmentConfig

    freeze, finetune = split_epochs(opts["epochs"], opts["freeze_epochs"], opts["finetune_epochs"],
                                    default_epochs=DEFAULT_EPOCHS, default_freeze=None)
    return SegmentConfig(augment=JointAugment() if opts["augment"] else NONE, freeze_epochs=freeze,
                         finetune_epochs=finetune, **{k: opts[k] for k in (*OWN, *FIT_OPTIONS)})


def train(opts: Options) -> str:
    """Train the run these options describe and print its summary; its status (finished, interrupted, ...)."""
    from cnnlab.console import console
    from cnnlab.segment.training import train_unet

    summary = train_unet(config(opts), resume=opts["resume"], overwrite=opts["overwrite"], given=set(opts.given),
                         aliases={"epochs": ("freeze_epochs", "finetune_epochs")})
    console.print(summary)
    return summary["status"]


def range_test(opts: Options):
    """What `cnnlab segment lr-find` tests: the task of the run these options describe, built without a run
    folder."""
    from cnnlab.segment.training import check_data_folder, load_splits, unet_task
    from cnnlab.train import resolve_device, seed_everything
    from cnnlab.train.lr_find import RangeTest

    cfg = config(opts)
    check_data_folder(cfg.data)
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed)
    train_set, val_set = load_splits(cfg)
    task, _ = unet_task(cfg, train_set, val_set, device)
    return RangeTest(task, cfg.fit_config(), device, cfg.run_path, f"U-Net on {cfg.encoder}, {cfg.data}")
