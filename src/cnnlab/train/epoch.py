"""One pass over a loader with a task's step: the step-based epoch that `fit` plugs into the engine.

A task hands in a `step(model, x, y) -> StepResult`; the epoch sums what it returns and never needs to
know what the model computes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from cnnlab.train import distributed
from cnnlab.train.average import WeightAverage
from cnnlab.train.device import autocast
from cnnlab.train.progress import EpochBar


@dataclass
class StepResult:
    """What a task's step returns: the loss to minimise and sums to average over the epoch."""

    loss: torch.Tensor  # scalar, mean over the batch
    sums: dict[str, torch.Tensor]  # e.g. {"acc": number of right predictions}; vectors are summed elementwise
    count: int  # samples in the batch


@dataclass
class Deadline:
    """When a training pass must stop, in time.perf_counter() seconds (the time budget's end); the pass
    records how many steps it had done when it stopped early."""

    at: float
    cut_after: int | None = None  # steps done when the pass was cut short; None: it ran to its end

    def passed(self) -> bool:
        return time.perf_counter() >= self.at


Step = Callable[[nn.Module, torch.Tensor, torch.Tensor], StepResult]


@dataclass
class Optimizing:
    """What a training pass adds to a validation pass."""

    optimizer: torch.optim.Optimizer
    scheduler: object
    grad_clip: float | None = None
    ema: WeightAverage | None = None
    freeze_norm_stats: bool = False

    def step(self, model: nn.Module, loss: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), self.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update()


def run_epoch(model: nn.Module, step: Step, loader, *, device: torch.device, precision: str,
              optimizer: torch.optim.Optimizer | None = None, scheduler=None, grad_clip: float | None = None,
              bar: EpochBar | None = None, freeze_norm_stats: bool = False,
              ema: WeightAverage | None = None, channels_last: bool = False,
              deadline: Deadline | None = None) -> dict[str, float]:
    """One pass over `loader`; trains when an optimizer is given. Returns averaged metrics, summed over the
    ranks of a data-parallel run. On CUDA nothing in the loop waits for the device: metrics stay on it until
    the epoch ends (the bar shows steps only there). A training pass stops after the step that passes
    `deadline` (a time budget running out mid-epoch); the metrics average the steps done."""
    training = None if optimizer is None else Optimizing(optimizer, scheduler, grad_clip, ema, freeze_norm_stats)
    model.train(training is not None)
    if training is not None:
        freeze_frozen_norms(model, everywhere=freeze_norm_stats)
    totals: dict[str, torch.Tensor] = {}
    count = 0
    with torch.set_grad_enabled(training is not None):
        for i, (x, y) in enumerate(loader):
            if channels_last and isinstance(x, torch.Tensor) and x.ndim == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast(device, precision):
                out = step(model, x, y)
            if training is not None:
                training.step(model, out.loss)
            for key, value in {"loss": out.loss.detach().float() * out.count, **out.sums}.items():
                totals[key] = totals.get(key, 0) + value.detach().float()
            count += out.count
            if bar is not None:
                bar.update(i, totals, count)
            if training is not None and deadline is not None and deadline.passed():
                deadline.cut_after = i + 1
                break
    totals, count = sum_over_ranks(totals, count, device)
    return {key: (value / max(count, 1)).tolist() for key, value in totals.items()}  # vectors become lists


def sum_over_ranks(totals: dict[str, torch.Tensor], count: int, device: torch.device):
    """The totals and count summed over the ranks of a data-parallel run (unchanged in one process)."""
    if not distributed.current().enabled:
        return totals, count
    keys = sorted(totals)
    flat = distributed.all_sum(torch.cat([totals[k].reshape(-1) for k in keys] +
                                         [torch.tensor([float(count)], device=device)]))
    count, offset = int(flat[-1].item()), 0
    for k in keys:
        size = totals[k].numel()
        totals[k] = flat[offset:offset + size].view_as(totals[k])
        offset += size
    return totals, count


def freeze_frozen_norms(model: nn.Module, everywhere: bool = False) -> None:
    """BatchNorm layers whose parameters are frozen (all of them, with `everywhere`) normalise with their
    running statistics and leave them unchanged (eval mode)."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and (
                everywhere or (module.weight is not None and not module.weight.requires_grad)):
            module.eval()
