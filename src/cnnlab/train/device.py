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


def uses_channels_last(option: str, device: torch.device) -> bool:
    """Whether convolutions get NHWC tensors: 'on', or 'auto' on CUDA and CPU (oneDNN's NHWC convolutions train
    1.2-1.5x faster than NCHW on the 2-core CPU: docs/benchmarks.md, issue 29)."""
    return option == "on" or (option == "auto" and device.type in ("cuda", "cpu"))


class AsTrained:
    """A model run on batches the way training validated it: in its run's precision (bf16 autocast or fp32) and
    memory layout (NHWC or not), so that a run's evaluation gives the figures its training reported; the outputs
    come back in float32. `precision` and `channels_last` are the run's options (FitConfig's)."""

    def __init__(self, model: torch.nn.Module, device: torch.device, precision: str = "auto",
                 channels_last: str = "auto") -> None:
        self.model, self.device, self.precision = model, device, precision
        self.nhwc = uses_channels_last(channels_last, device)
        if self.nhwc:
            model.to(memory_format=torch.channels_last)

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """`x` on the device, NHWC when the run trained NHWC."""
        x = x.to(self.device)
        return x.contiguous(memory_format=torch.channels_last) if self.nhwc and x.ndim == 4 else x

    def context(self):
        """The run's autocast (a null context for fp32)."""
        return autocast(self.device, self.precision)

    def __call__(self, x: torch.Tensor):
        with self.context():
            out = self.model(self.inputs(x))
        return out.float() if isinstance(out, torch.Tensor) else out


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
