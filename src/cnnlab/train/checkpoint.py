"""Checkpoints: one format for every task, written atomically (temporary file, fsync, rename) and read with
a clear error.

Format 1: {"format": 1, "cnnlab": version, "task", "date", "config": the run's config, "epoch",
"model": the main network's weights, "nets": other networks (the GAN's discriminator, a weight average),
"optimizers" and "schedulers" by name, "engine": the engine's state (last checkpoint only), plus what the
task needs to rebuild its model (e.g. "spec", "classes")}.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import torch

from cnnlab.atomic import replacing
from cnnlab.errors import RunFolderError

FORMAT = 1


def stamp(parts: dict, *, task: str, config: dict) -> dict:
    """A checkpoint in this format: `parts` (model, optimizers, ...) with what names its origin."""
    from cnnlab import __version__

    return {"format": FORMAT, "cnnlab": __version__, "task": task,
            "date": datetime.now(UTC).isoformat(timespec="seconds"), "config": config, **parts}


def save_atomic(obj: object, path: str | Path) -> None:
    """torch.save to a temporary file beside `path`, then rename: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    path = Path(path)
    if not path.is_file():
        raise RunFolderError(f"no checkpoint at {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many kinds for a damaged file
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise RunFolderError(f"checkpoint {path} cannot be read ({type(exc).__name__}: {first}); "
                             "it may be truncated, empty or from another program") from exc
    if not isinstance(ckpt, dict):
        raise RunFolderError(f"checkpoint {path} holds a {type(ckpt).__name__}, not a cnnlab checkpoint")
    if not isinstance(ckpt.get("format", 0), int) or ckpt.get("format", 0) > FORMAT:
        raise RunFolderError(f"checkpoint {path} is of format {ckpt.get('format')!r}, newer than this cnnlab "
                             f"reads ({FORMAT}); upgrade cnnlab (pip install -U cnnlab)")
    return upgrade(ckpt)


def upgrade(ckpt: dict) -> dict:
    """A checkpoint of cnnlab before format 1 (each task had its own shape) in format 1."""
    if "format" in ckpt:
        return ckpt
    old, new = dict(ckpt), {"format": FORMAT, "cnnlab": "0.1.0 (earlier)", "task": None, "date": None}
    if "trainer" in old:  # the GAN's: {"trainer": {G, D, opt_g, opt_d, fixed_z}, "epoch", "history", "config"}
        trainer = old.pop("trainer")
        new.update(task="generate", model=trainer.get("G"), nets={"D": trainer.get("D")},
                   optimizers={"g": trainer.get("opt_g"), "d": trainer.get("opt_d")}, fixed_z=trainer.get("fixed_z"),
                   engine={"epoch": old.get("epoch", 0), "history": old.pop("history", [])})
    if "state" in old:  # fit's: {"model", "optimizer", "scheduler", "state", "ema"?, "phase", ...}
        new.update(engine=old.pop("state"), optimizers={"main": old.pop("optimizer", None)},
                   schedulers={"main": old.pop("scheduler", None)})
        if "ema" in old:
            new["nets"] = {"ema": old.pop("ema")}
    new.update(old)
    if "engine" in new and "epoch" not in new:
        new["epoch"] = new["engine"].get("epoch", 0)
    return new
