"""Optimizers and per-step learning-rate schedules."""

from __future__ import annotations

import math

import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.registry import unknown_name_message
from cnnlab.train.config import OPTIMIZERS, SCHEDULES


def build_optimizer(params, name: str, lr: float, *, momentum: float = 0.9, nesterov: bool = False,
                    weight_decay: float = 0.0, fused: bool = False) -> torch.optim.Optimizer:
    extra = {"fused": True} if fused else {}
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, **extra)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, **extra)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=nesterov and momentum > 0,
                               weight_decay=weight_decay, **extra)
    raise CnnlabError(unknown_name_message("optimizer", name, list(OPTIMIZERS)))


def lr_factor(step: int, total: int, schedule: str, warmup: int) -> float:
    """Multiplier of the base learning rate at optimizer step `step` of `total`."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * progress))
    if schedule == "linear":
        return 1.0 - progress
    if schedule == "onecycle":  # up over the first 30%, then cosine down to near zero
        peak = 0.3
        if progress < peak:
            return 0.04 + 0.96 * progress / peak
        return 0.5 * (1 + math.cos(math.pi * (progress - peak) / (1 - peak)))
    raise CnnlabError(unknown_name_message("schedule", schedule, list(SCHEDULES)))


def build_scheduler(optimizer: torch.optim.Optimizer, schedule: str, total_steps: int,
                    warmup_steps: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
    lr_factor(0, total_steps, schedule, warmup_steps)  # unknown names fail here, not mid-run
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, total_steps, schedule, warmup_steps))


def decay_groups(model: nn.Module, weight_decay: float, keep=lambda p: True) -> list[dict]:
    """Weight decay on weights of convs and linears only, not on biases and norm parameters; only trainable
    parameters for which keep(p) holds."""
    decay, rest = [], []
    for p in model.parameters():
        if p.requires_grad and keep(p):
            (decay if p.ndim > 1 else rest).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]
