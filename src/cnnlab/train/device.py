"""Device and precision choice, and per-epoch seeding."""

from __future__ import annotations

import contextlib
import random

import numpy as np
import torch

from cnnlab.errors import CnnlabError
from cnnlab.options import said
from cnnlab.train.config import PRECISIONS


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CnnlabError(f"device {name!r} asked for, but no CUDA GPU is available; use {said('device')} cpu")
    return device


def autocast(device: torch.device, precision: str):
    """bf16 autocast on CUDA for 'auto' and 'bf16'; fp32 (no autocast) otherwise."""
    if precision not in PRECISIONS:
        raise CnnlabError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    use_bf16 = precision == "bf16" or (precision == "auto" and device.type == "cuda")
    if not use_bf16:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
