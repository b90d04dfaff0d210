"""From options to a similarity run: the one function that `cnnlab similarity train` and
`cnnlab.similarity.train(**kw)` both call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cnnlab.data.augment_spec import parse_augment
from cnnlab.data.config import DataConfig, default_image_size
from cnnlab.options import Options, parse_model_args
from cnnlab.train.options import HELP as TRAINING_OPTIONS

OWN = ("pretrained", "weights", "input_size", "method", "loss", "rank", "embedding_dim", "pairs", "select_by",
       "per_class", "holdout_classes", "name", "runs_dir")


def config(opts: Mapping[str, Any]):
    """The checked SimilarityConfig of `cnnlab similarity train` with these options (by field name)."""
    from cnnlab.similarity.config import SimilarityConfig
    from cnnlab.train.config import FitConfig

    fit = {k: opts[k] for k in TRAINING_OPTIONS if k in opts}
    data = DataConfig(opts["data"], opts["data_dir"], default_image_size(opts["data"], opts["image_size"]),
                      opts["channels"], opts["val_fraction"], train_per_class=opts["train_per_class"],
                      seed=fit["seed"], drop_leaks=opts["drop_leaks"])
    return SimilarityConfig(data=data, model=opts["model"], model_args=parse_model_args(opts["model_arg"]),
                            augment=parse_augment(opts["augment"]), fit=FitConfig(**fit),
                            **{k: opts[k] for k in OWN})


def train(opts: Options) -> str:
    """Train the run these options describe; its status (finished, interrupted, ...)."""
    from cnnlab.similarity.training import train_similarity

    result = train_similarity(config(opts), resume=opts["resume"], overwrite=opts["overwrite"], given=set(opts.given))
    return result.state.status


def range_test(opts: Options):
    """What `cnnlab similarity lr-find` tests: the task of the run these options describe, built without a run
    folder (held-out classes left out of training, as training leaves them)."""
    from cnnlab.data.datasets import load_dataset
    from cnnlab.similarity.holdout import split_classes
    from cnnlab.similarity.training import similarity_task
    from cnnlab.train import resolve_device, seed_everything
    from cnnlab.train.lr_find import RangeTest

    cfg = config(opts)
    device = resolve_device(cfg.fit.device)
    seed_everything(cfg.fit.seed)
    data, _ = split_classes(load_dataset(cfg.data), cfg.holdout_classes)
    task, cfg, _ = similarity_task(cfg, data, device)
    return RangeTest(task, cfg.fit, device, cfg.run_path, f"{cfg.method} on {cfg.model}, {cfg.data.name}")
