"""Device and precision choice, and per-epoch seeding."""

from __future__ import annotations

import contextlib
import functools
import random
import re
from pathlib import Path

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


@functools.cache
def native_bf16_cpu() -> bool:
    """True on a CPU that computes bf16 natively (x86 AVX512-BF16 or AMX, as Linux's /proc/cpuinfo lists them): there
    bf16 autocast trains about twice as fast as fp32 (docs/benchmarks.md, issue 29). Elsewhere bf16 is emulated,
    slower than fp32, and 'auto' keeps fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return False
    return re.search(r"\b(avx512_bf16|amx_bf16)\b", flags) is not None


def uses_bf16(device: torch.device, precision: str) -> bool:
    """Whether `precision` means bf16 autocast on `device`: bf16 always; auto on CUDA and on a CPU with native bf16."""
    if precision not in PRECISIONS:
        raise CnnlabError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision == "bf16" or (precision == "auto" and (
        device.type == "cuda" or (device.type == "cpu" and native_bf16_cpu())))


def autocast(device: torch.device, precision: str):
    """bf16 autocast where `uses_bf16`; fp32 (no autocast) otherwise."""
    if not uses_bf16(device, precision):
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
