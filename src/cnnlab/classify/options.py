"""From options to a classify run: the one function that the command line (`cnnlab classify train`) and
Python (`cnnlab.classify.train(**kw)`) both call, recipes, phases and data-dependent defaults included."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cnnlab.classify.config import RECIPE_FIT, ClassifyConfig, recipe_fit, recipe_values, transfer_phases
from cnnlab.data.augment_spec import parse_augment
from cnnlab.data.config import DataConfig, default_image_size
from cnnlab.options import Options, parse_model_args
from cnnlab.train.config import split_epochs
from cnnlab.train.options import HELP as TRAINING_OPTIONS


def config(opts: Mapping[str, Any]) -> ClassifyConfig:
    """The checked config of `cnnlab classify train` with these options (every one of its options by field name,
    as Options gives them)."""
    o = dict(opts)
    fit = {k: o[k] for k in TRAINING_OPTIONS if k in o}
    freeze, finetune = o["freeze_epochs"], o["finetune_epochs"]
    if freeze is not None or finetune is not None:  # transfer phases: --epochs is their sum
        freeze, finetune = split_epochs(fit["epochs"], freeze, finetune, default_epochs=0, default_freeze=0)
    r = recipe_values(o["recipe"], {"model": o["model"], "augment": o["augment"],
                                    **{k: fit.pop(k) for k in RECIPE_FIT}})
    bn_stats = o["finetune_bn_stats"]
    phases = transfer_phases(freeze or 0, finetune or 0, freeze_lr=o["freeze_lr"], finetune_lr=o["finetune_lr"],
                             schedule=r["schedule"], backbone_lr_scale=o["backbone_lr_scale"],
                             finetune_bn_stats=bn_stats if bn_stats is not None
                             else not (o["pretrained"] or o["weights"]))
    data = DataConfig(o["data"], o["data_dir"], default_image_size(o["data"], o["image_size"]), o["channels"],
                      o["val_fraction"], train_per_class=o["train_per_class"], seed=fit["seed"],
                      drop_leaks=o["drop_leaks"])
    return ClassifyConfig(data=data, model=r["model"], model_args=parse_model_args(o["model_arg"]),
                          pretrained=o["pretrained"], weights=o["weights"], input_size=o["input_size"],
                          augment=parse_augment(r["augment"]), fit=recipe_fit(r, phases=phases, **fit),
                          class_weights=o["class_weights"], sampler=o["sampler"], name=o["name"],
                          runs_dir=o["runs_dir"])


def train(opts: Options) -> str:
    """Train the run these options describe; its status (finished, interrupted, ...)."""
    from cnnlab.classify.training import train_classifier

    result = train_classifier(config(opts), resume=opts["resume"], overwrite=opts["overwrite"], given=set(opts.given))
    return result.state.status


def range_test(opts: Options):
    """What `cnnlab classify lr-find` tests: the task of the run these options describe, built without a run
    folder."""
    from cnnlab.classify.training import classifier_task
    from cnnlab.data.datasets import load_dataset
    from cnnlab.train import resolve_device, seed_everything
    from cnnlab.train.lr_find import RangeTest

    cfg = config(opts)
    device = resolve_device(cfg.fit.device)
    seed_everything(cfg.fit.seed)
    task, _, _ = classifier_task(cfg, load_dataset(cfg.data), device)
    return RangeTest(task, cfg.fit, device, cfg.run_path, f"{cfg.model} on {cfg.data.name}")
