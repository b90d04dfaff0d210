"""Checkpoints written atomically (temporary file, fsync, rename) and read with a clear error."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from cnnlab.atomic import replacing
from cnnlab.errors import RunFolderError


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
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many kinds for a damaged file
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise RunFolderError(f"checkpoint {path} cannot be read ({type(exc).__name__}: {first}); "
                             "it may be truncated, empty or from another program") from exc
