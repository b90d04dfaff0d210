"""The shared fit loop: mechanics only (precision, steps, checkpoints, resume, early stopping, progress).

A task hands in a `step(model, x, y) -> StepResult`; the loop sums what it returns and never needs to
know what the model computes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from torch import nn

from cnnlab.errors import TrainingDiverged
from cnnlab.train.device import autocast
from cnnlab.train.optim import build_optimizer, build_scheduler, decay_groups
from cnnlab.train.run import RunDir, console


@dataclass(frozen=True)
class FitConfig:
    """How to train; the defaults are the seed labs' (Keras Adam, lr 1e-3)."""

    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "adam"  # adam, adamw, sgd
    lr: float = 1e-3  # base learning rate
    momentum: float = 0.9  # sgd only
    nesterov: bool = False  # sgd only
    weight_decay: float | None = None  # None: the model's own default (densenet-seed: the seed's L2)
    schedule: str = "constant"  # constant, cosine, onecycle, linear (per optimizer step)
    warmup_epochs: float = 0.0  # linear warm-up, in epochs
    label_smoothing: float = 0.0
    precision: str = "auto"  # auto (bf16 on CUDA, fp32 on CPU), fp32, bf16
    patience: int | None = None  # early stopping: epochs without a better validation loss
    grad_clip: float | None = None  # max gradient norm
    seed: int = 0
    device: str = "auto"


@dataclass
class StepResult:
    """What a task's step returns: the loss to minimise and sums to average over the epoch."""

    loss: torch.Tensor  # scalar, mean over the batch
    sums: dict[str, torch.Tensor]  # e.g. {"correct": number of right predictions}
    count: int  # samples in the batch


Step = Callable[[nn.Module, torch.Tensor, torch.Tensor], StepResult]


@dataclass
class FitState:
    """Everything besides the weights that a resumed run needs to continue exactly."""

    epoch: int = 0  # completed epochs
    history: list[dict] = field(default_factory=list)
    best_loss: float = math.inf
    best_epoch: int = -1
    bad_epochs: int = 0
    status: str = "running"  # running, finished, early-stopped, interrupted, diverged


def run_epoch(model: nn.Module, step: Step, loader, *, device: torch.device, precision: str,
              optimizer: torch.optim.Optimizer | None = None, scheduler=None, grad_clip: float | None = None,
              progress: Progress | None = None, task=None) -> dict[str, float]:
    """One pass over `loader`; trains when an optimizer is given. Returns averaged metrics."""
    train = optimizer is not None
    model.train(train)
    totals: dict[str, torch.Tensor] = {}
    count = 0
    every = max(1, len(loader) // 20)  # progress refresh; each refresh syncs with the device
    with torch.set_grad_enabled(train):
        for i, (x, y) in enumerate(loader):
            with autocast(device, precision):
                out = step(model, x, y)
            if train:
                optimizer.zero_grad(set_to_none=True)
                out.loss.backward()
                if grad_clip:
                    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                optimizer.step()
                scheduler.step()
            for key, value in {"loss": out.loss.detach().float() * out.count, **out.sums}.items():
                totals[key] = totals.get(key, 0) + value.detach().float()
            count += out.count
            if progress is not None and (i % every == 0 or i == len(loader) - 1):
                shown = " ".join(f"{k}={v.item() / count:.4f}" for k, v in totals.items())
                progress.update(task, completed=i + 1, metrics=shown)
    return {key: value.item() / max(count, 1) for key, value in totals.items()}


def format_metrics(record: dict) -> str:
    """'train loss 0.1234 acc 95.1% | val loss ...' from an epoch record."""
    parts = []
    for split in ("train", "val"):
        items = [(k[len(split) + 1:], v) for k, v in record.items() if k.startswith(split + "_")]
        shown = " ".join(f"{k} {v:.2%}" if k == "acc" else f"{k} {v:.4f}" for k, v in items)
        parts.append(f"{split} {shown}")
    return " | ".join(parts)


def make_progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[metrics]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                    console=console, transient=True, disable=not console.is_terminal)


def fit(model: nn.Module, step: Step, train_loader, val_loader, cfg: FitConfig, *, device: torch.device,
        run: RunDir | None = None, checkpoint: dict | None = None, extra: dict | None = None,
        default_weight_decay: float = 0.0, callbacks: tuple[Callable[[int, dict], None], ...] = ()) -> FitState:
    """Train `model` for cfg.epochs, validating each epoch; resumes from `checkpoint` when given.

    Each epoch's checkpoint (model, optimizer, scheduler, FitState, `extra`) is written atomically to the
    run folder, with the best one by validation loss beside it. A non-finite loss raises TrainingDiverged
    and keeps the last good checkpoint; Ctrl-C stops after saving state of the last finished epoch.
    """
    weight_decay = default_weight_decay if cfg.weight_decay is None else cfg.weight_decay
    optimizer = build_optimizer(decay_groups(model, weight_decay), cfg.optimizer, cfg.lr, momentum=cfg.momentum,
                                nesterov=cfg.nesterov, fused=device.type == "cuda")
    steps = len(train_loader)
    scheduler = build_scheduler(optimizer, cfg.schedule, cfg.epochs * steps, round(cfg.warmup_epochs * steps))
    state = FitState()
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        state = FitState(**checkpoint["state"])
        state.status = "running"
    say = run.log if run is not None else console.print
    try:
        with make_progress() as progress:
            while state.epoch < cfg.epochs:
                record = _train_one_epoch(model, step, train_loader, val_loader, cfg, device, optimizer, scheduler,
                                          state, progress)
                _finish_epoch(model, optimizer, scheduler, state, record, run, extra, say)
                for callback in callbacks:
                    callback(state.epoch, record)
                if cfg.patience is not None and state.bad_epochs >= cfg.patience:
                    state.status = "early-stopped"
                    say(f"early stop: validation loss has not improved for {cfg.patience} epochs "
                        f"(best at epoch {state.best_epoch})")
                    break
    except KeyboardInterrupt:
        state.status = "interrupted"
        say(f"interrupted: state of epoch {state.epoch} is saved; continue with --resume", style="yellow")
        return state
    if state.status == "running":
        state.status = "finished"
    return state


def _train_one_epoch(model, step, train_loader, val_loader, cfg, device, optimizer, scheduler, state,
                     progress) -> dict:
    epoch = state.epoch
    torch.manual_seed(cfg.seed * 1_000_003 + epoch)  # dropout etc. depend on (seed, epoch) alone
    train_loader.set_epoch(epoch)
    task = progress.add_task(f"epoch {epoch + 1}/{cfg.epochs}", total=len(train_loader), metrics="")
    start = time.perf_counter()
    lr = optimizer.param_groups[0]["lr"]
    train = run_epoch(model, step, train_loader, device=device, precision=cfg.precision, optimizer=optimizer,
                      scheduler=scheduler, grad_clip=cfg.grad_clip, progress=progress, task=task)
    seconds = time.perf_counter() - start
    progress.remove_task(task)
    if not math.isfinite(train["loss"]):
        state.status = "diverged"
        raise TrainingDiverged(
            f"the training loss became {train['loss']} in epoch {epoch + 1}; the last good checkpoint "
            f"(epoch {epoch}) is kept. Lower the learning rate (now {cfg.lr}) or add --grad-clip.")
    val = run_epoch(model, step, val_loader, device=device, precision=cfg.precision)
    record = {"epoch": epoch + 1, **{f"train_{k}": v for k, v in train.items()},
              **{f"val_{k}": v for k, v in val.items()}, "lr": lr, "seconds": seconds}
    return record


def _finish_epoch(model, optimizer, scheduler, state: FitState, record: dict, run: RunDir | None,
                  extra: dict | None, say) -> None:
    state.epoch += 1
    state.history.append(record)
    improved = record["val_loss"] < state.best_loss
    if improved:
        state.best_loss, state.best_epoch, state.bad_epochs = record["val_loss"], state.epoch, 0
    else:
        state.bad_epochs += 1
    say(f"epoch {state.epoch:>3}  {format_metrics(record)}  {record['seconds']:.1f}s" + ("  *" if improved else ""))
    if run is None:
        return
    ckpt = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "state": asdict(state), **(extra or {})}
    if improved:
        run.save_checkpoint({"model": ckpt["model"], "epoch": state.epoch, **(extra or {})}, best=True)
    run.save_checkpoint(ckpt)
    run.write_metrics(state.history)
