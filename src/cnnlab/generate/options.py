"""From options to a GAN run: the one function that `cnnlab generate train` and `cnnlab.generate.train(**kw)`
both call (the preset's learning rates, the data-dependent image size and the run's own data on --resume)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cnnlab.checks import check_choice
from cnnlab.data.augment_spec import parse_augment
from cnnlab.data.config import default_image_size
from cnnlab.errors import ConfigError
from cnnlab.options import Options, said

FIT_OPTIONS = ("epochs", "batch_size", "seed", "device", "precision", "max_seconds", "tensorboard")
OWN = ("data_dir", "channels", "generator", "latent_dim", "width", "label_noise", "loss", "diffaug", "ema",
       "spectral_norm", "r1", "sample_every", "health_samples", "features", "name", "runs_dir")


def resumed_data(resume: bool, name: str | None, runs_dir: str) -> str:
    """The data of the run NAME, for a resume that names no data; ConfigError when neither says which data."""
    from cnnlab.train.names import check_run_name
    from cnnlab.train.run import RunDir

    if not resume or name is None:
        raise ConfigError(f"{said('data')} is needed (a folder of photos, folder:PATH or DATASET[:CLASS]); with "
                          f"{said('resume', True)}, {said('name')} says which run, and the run's own data is used")
    check_run_name(name)
    stored = RunDir.open(Path(runs_dir) / "generate" / name, task="generate").read_json("config.json")
    if not isinstance(stored, dict) or not isinstance(stored.get("data"), str):
        raise ConfigError(f"the config.json of run {name} names no data; pass {said('data')}")
    return stored["data"]


def config(opts: Mapping[str, Any]):
    """The checked GanConfig of `cnnlab generate train` with these options (by field name)."""
    from cnnlab.generate.config import OPTIMIZER_PRESETS, SEED_AUGMENT, GanConfig

    check_choice("preset", opts["preset"], OPTIMIZER_PRESETS)
    data = opts["data"] if opts["data"] is not None else resumed_data(opts["resume"], opts["name"], opts["runs_dir"])
    d, g, b1, b2 = OPTIMIZER_PRESETS[opts["preset"]]
    image_size = opts["image_size"]
    if image_size is None:  # a value given, 0 too, is checked as given
        image_size = default_image_size(data.split(":")[0], None) or 64
    augment = SEED_AUGMENT if opts["augment"] == "seed" else parse_augment(opts["augment"])
    return GanConfig(data=data, image_size=image_size, lr_d=d if opts["lr_d"] is None else opts["lr_d"],
                     lr_g=g if opts["lr_g"] is None else opts["lr_g"], beta1=b1, beta2=b2, augment=augment,
                     **{k: opts[k] for k in (*OWN, *FIT_OPTIONS)})


def train(opts: Options) -> str:
    """Train the run these options describe; its status (finished, interrupted, ...)."""
    from cnnlab.generate.training import train_gan

    return train_gan(config(opts), resume=opts["resume"], overwrite=opts["overwrite"], given=set(opts.given)).status
