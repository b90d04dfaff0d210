"""From options to a localize run: the one function that `cnnlab localize train` and `cnnlab.localize.train(**kw)`
both call."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from cnnlab.options import Options
from cnnlab.train.config import split_epochs

DEFAULT_EPOCHS, DEFAULT_FREEZE = 8, 3  # localize's: 3 frozen, 5 fine-tuning (docs/benchmarks.md)


def config(opts: Mapping[str, Any]):
    """The checked LocalizeConfig of `cnnlab localize train` with these options (by field name)."""
    from cnnlab.data.boxes.augment import NO_AUGMENT, BoxAugment
    from cnnlab.localize.config import LocalizeConfig

    freeze, finetune = split_epochs(opts["epochs"], opts["freeze_epochs"], opts["finetune_epochs"],
                                    default_epochs=DEFAULT_EPOCHS, default_freeze=DEFAULT_FREEZE)
    same = {f.name: opts[f.name] for f in fields(LocalizeConfig)
            if f.name not in ("augment", "freeze_epochs", "finetune_epochs")}
    return LocalizeConfig(**same, augment=BoxAugment() if opts["augment"] else NO_AUGMENT, freeze_epochs=freeze,
                          finetune_epochs=finetune)


def train(opts: Options) -> str:
    """Train the run these options describe and print its summary; its status (finished, interrupted, ...)."""
    from cnnlab.console import console
    from cnnlab.localize.training import train_localizer

    summary = train_localizer(config(opts), resume=opts["resume"], overwrite=opts["overwrite"],
                              given=set(opts.given), aliases={"epochs": ("freeze_epochs", "finetune_epochs")})
    console.print({k: v for k, v in summary.items() if k != "notes"})
    return summary["status"]


def range_test(opts: Options):
    """What `cnnlab localize lr-find` tests: the task of the run these options describe on the split training
    would make, built without a run folder."""
    from cnnlab.errors import DataError
    from cnnlab.localize.training import MIN_IMAGES, load_box_data, localizer_task, split_data, split_paths
    from cnnlab.train import resolve_device, seed_everything
    from cnnlab.train.lr_find import RangeTest

    cfg = config(opts)
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed)
    data, _ = load_box_data(cfg, log=lambda _: None)
    if len(data) < MIN_IMAGES:
        raise DataError(f"{cfg.data} has {len(data)} boxed image(s); at least {MIN_IMAGES} are needed")
    parts = split_data(data, split_paths(data, cfg))
    return RangeTest(localizer_task(cfg, data.classes, parts, device), cfg.fit_config(), device, cfg.run_path,
                     f"{cfg.head} head on {cfg.model}, {cfg.data}")
