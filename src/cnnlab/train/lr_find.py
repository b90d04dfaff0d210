"""The learning-rate range test (Smith 2017; fastai's `lr_find`): train a copy of the task's model for a hundred
steps while the learning rate grows exponentially from 1e-7 to 10, record the smoothed loss, and suggest a rate
(`suggest`). The task's model is left as it was."""

from __future__ import annotations

import copy
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from cnnlab.checks import check_number
from cnnlab.errors import CnnlabError
from cnnlab.train.config import FitConfig
from cnnlab.train.device import autocast
from cnnlab.train.optim import build_optimizer, decay_groups
from cnnlab.train.task import Task

SMOOTH = 0.98  # exponential smoothing of the loss (bias-corrected), as fastai's
DIVERGE = 4.0  # stop once the smoothed loss exceeds this times its best
FLAT = 0.02  # a loss that never falls this share below its settled start did not fall (see suggest)


@dataclass
class LrFind:
    lrs: list[float]
    losses: list[float]  # smoothed
    raw: list[float]
    suggestion: float  # the steepest fall of the smoothed loss, or a tenth of the lowest loss's rate if lower
    minimum: float  # the rate at the lowest smoothed loss
    optimizer: str
    phase: str  # which parameters trained: all, or head (a transfer run's frozen phase)
    flat: bool = False  # the loss never fell: the suggestion is a tenth of the rate where it began to climb

    def to_dict(self) -> dict:
        return asdict(self)


def lr_find(task: Task, cfg: FitConfig, device: torch.device, *, start: float = 1e-7, end: float = 10.0,
            steps: int = 100) -> LrFind:
    """The range test on `task` with the optimizer of its first phase."""
    check_number("start_lr", start, low=0, low_open=True)
    check_number("end_lr", end, low=0, low_open=True)
    check_number("steps", steps, low=10, high=100_000, integer=True)
    if end <= start:
        raise CnnlabError(f"the end learning rate ({end:g}) must be above the start ({start:g})")
    if len(task.train_loader) == 0:
        raise CnnlabError("the training set gives no batch: add images, or lower the batch size")
    phase = cfg.plan()[0]
    model = copy.deepcopy(task.model).to(device).train()
    if hasattr(model, "set_trainable"):
        model.set_trainable(phase.train)
    weight_decay = cfg.weight_decay if cfg.weight_decay is not None else task.default_weight_decay
    groups = [g for g in decay_groups(model, weight_decay) if g["params"]]
    optimizer = build_optimizer(groups, phase.optimizer, start, momentum=phase.momentum, nesterov=phase.nesterov)
    lrs, losses, raw = [], [], []
    average, best, epoch = 0.0, math.inf, 0
    batches = iter(())
    for i in range(steps):
        lr = start * (end / start) ** (i / (steps - 1))
        for group in optimizer.param_groups:
            group["lr"] = lr
        try:
            x, y = next(batches)
        except StopIteration:  # another pass over the data, in a new order
            task.train_loader.set_epoch(epoch)
            epoch += 1
            batches = iter(task.train_loader)
            x, y = next(batches)
        with autocast(device, cfg.precision):
            loss = task.step(model, x, y).loss.float()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        value = loss.item()
        if not math.isfinite(value):
            break
        average = SMOOTH * average + (1 - SMOOTH) * value
        smoothed = average / (1 - SMOOTH ** (i + 1))
        lrs.append(lr)
        raw.append(value)
        losses.append(smoothed)
        best = min(best, smoothed)
        if smoothed > DIVERGE * best:
            break
    if len(lrs) < 10:
        raise CnnlabError(f"the loss diverged after {len(lrs)} steps of the range test; start lower than {start:g}")
    return LrFind(lrs, losses, raw, suggest(lrs, losses, raw), lrs[int(np.argmin(losses))], phase.optimizer,
                  phase.train, flat=did_not_fall(losses, raw))


def start_level(raw: list[float]) -> float:
    """Where the loss stands before the rate does anything: the median raw loss of the first quarter of the steps
    (the smoothed loss still moves there, as its average fills)."""
    return float(np.median(raw[: max(3, len(raw) // 4)]))


def climb(lrs: list[float], losses: list[float], raw: list[float]) -> float:
    """The first rate where the smoothed loss stood FLAT above the start level."""
    level = start_level(raw) * (1 + FLAT)
    return lrs[next((i for i in range(len(lrs)) if losses[i] > level and i >= len(lrs) // 10), len(lrs) - 1)]


def did_not_fall(losses: list[float], raw: list[float]) -> bool:
    """True when the smoothed loss never went FLAT below the start level, or was lowest in the first tenth."""
    return (min(losses) > start_level(raw) * (1 - FLAT) or int(np.argmin(losses)) <= max(1, len(losses) // 10) + 1)


def suggest(lrs: list[float], losses: list[float], raw: list[float] | None = None) -> float:
    """The lower of two rules of thumb: the rate of the steepest fall of the smoothed loss against log10(lr) (looked
    for before the loss's minimum, the first tenth left out while the smoothing settles), and a tenth of the rate at
    the minimum. The smoothing lags the loss, which moves the steepest point to the right: on the quickstart (Adam,
    baseline CNN, digits) it lands at 0.018, which trains 2 points worse than 1e-3, while minimum / 10 (0.0066)
    trains as well (docs/benchmarks.md).

    A loss that never fell (a frozen random backbone's head in a hundred steps, say) has no fall to read: then a
    tenth of the rate where the loss rose FLAT above its start level, the highest rate that did no harm."""
    low = int(np.argmin(losses))
    skip = max(1, len(lrs) // 10)
    raw = losses if raw is None else raw
    if did_not_fall(losses, raw):
        return climb(lrs, losses, raw) / 10
    tenth = lrs[low] / 10
    slope = np.gradient(np.asarray(losses[: low + 1]), np.log10(np.asarray(lrs[: low + 1])))
    return float(min(lrs[skip + int(np.argmin(slope[skip:]))], tenth))


@dataclass
class RangeTest:
    """What `cnnlab TASK lr-find` tests: the task a train command with the same options would fit (built without a
    run folder), its fit config, device, the run folder it would train into (for the default output) and a title."""

    task: Task
    fit: FitConfig
    device: torch.device
    run_path: Path
    title: str


def paste_flag(cfg: FitConfig) -> str:
    """The train option the suggestion is for: --lr, or the first phase's --freeze-lr / --finetune-lr."""
    if not cfg.phases:
        return "--lr"
    return "--freeze-lr" if cfg.phases[0].train != "all" else "--finetune-lr"


def run_range_test(setup: RangeTest, out: str | Path | None, steps: int = 100) -> tuple[LrFind, Path, str]:
    """The range test of `setup`; writes lr_find.png and lr_find.json to `out` (default RUNS_DIR/lr-find/TASK-NAME
    beside the run folders, not among them); returns them with the line to paste."""
    from cnnlab.atomic import replacing, write_text

    room = Path(setup.run_path).parent
    folder = Path(out) if out else room.parent / "lr-find" / f"{room.name}-{Path(setup.run_path).name}"
    result = lr_find(setup.task, setup.fit, setup.device, steps=steps)
    line = f"{paste_flag(setup.fit)} {result.suggestion:.2g}"
    folder.mkdir(parents=True, exist_ok=True)
    with replacing(folder / "lr_find.png") as tmp:
        plot_lr_find(result, tmp, f"{setup.title}, {result.optimizer}")
    write_text(folder / "lr_find.json", json.dumps({**result.to_dict(), "paste": line}, indent=2))
    return result, folder, line


def plot_lr_find(result: LrFind, path, title: str = "") -> None:
    from cnnlab.report.plots import _save, plt

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(result.lrs, result.raw, color="lightgrey", lw=1, label="loss")
    ax.plot(result.lrs, result.losses, color="C0", label="smoothed loss")
    ax.axvline(result.suggestion, color="C3", ls="--", label=f"suggested {result.suggestion:.2g}")
    ax.axvline(result.minimum, color="grey", ls=":", label=f"minimum {result.minimum:.2g}")
    ax.set_xscale("log")
    top = min(max(result.losses) * 1.1, max(result.losses[0] * 2, min(result.losses) * 4))
    ax.set_ylim(min(result.losses) * 0.9, top)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.set_title(title or "learning-rate range test")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)
