"""The shared fit loop: mechanics only (precision, steps, checkpoints, resume, early stopping, progress).

A task hands in a `step(model, x, y) -> StepResult`; the loop sums what it returns and never needs to
know what the model computes.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from torch import nn

from cnnlab.errors import CnnlabError, RunFolderError, TrainingDiverged
from cnnlab.train import distributed
from cnnlab.train.config import FitConfig, PhaseConfig
from cnnlab.train.device import autocast
from cnnlab.train.optim import build_optimizer, build_scheduler, decay_groups
from cnnlab.train.run import RunDir, console


@dataclass
class StepResult:
    """What a task's step returns: the loss to minimise and sums to average over the epoch."""

    loss: torch.Tensor  # scalar, mean over the batch
    sums: dict[str, torch.Tensor]  # e.g. {"acc": number of right predictions}; vectors are summed elementwise
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
    status: str = "running"  # running, finished, early-stopped, budget-spent, interrupted, diverged
    compile_seconds: float = 0.0  # one-off torch.compile warm-up, not in any epoch's seconds


def run_epoch(model: nn.Module, step: Step, loader, *, device: torch.device, precision: str,
              optimizer: torch.optim.Optimizer | None = None, scheduler=None, grad_clip: float | None = None,
              progress: Progress | None = None, task=None, freeze_norm_stats: bool = False,
              ema: WeightAverage | None = None, channels_last: bool = False) -> dict[str, float]:
    """One pass over `loader`; trains when an optimizer is given. Returns averaged metrics, summed over the
    ranks of a data-parallel run.

    On CUDA nothing in the loop waits for the device: metrics stay on it until the epoch ends, and the
    progress bar shows steps only (reading a running loss would stall the queue every refresh)."""
    train = optimizer is not None
    model.train(train)
    if train:
        freeze_frozen_norms(model, everywhere=freeze_norm_stats)
    totals: dict[str, torch.Tensor] = {}
    count = 0
    every = max(1, len(loader) // 20)
    live = device.type != "cuda"
    with torch.set_grad_enabled(train):
        for i, (x, y) in enumerate(loader):
            if channels_last and isinstance(x, torch.Tensor) and x.ndim == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast(device, precision):
                out = step(model, x, y)
            if train:
                optimizer.zero_grad(set_to_none=True)
                out.loss.backward()
                if grad_clip:
                    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                optimizer.step()
                scheduler.step()
                if ema is not None:
                    ema.update()
            for key, value in {"loss": out.loss.detach().float() * out.count, **out.sums}.items():
                totals[key] = totals.get(key, 0) + value.detach().float()
            count += out.count
            if progress is not None and (i % every == 0 or i == len(loader) - 1):
                shown = " ".join(f"{k}={v.item() / count:.4f}" for k, v in totals.items() if v.ndim == 0 and live)
                progress.update(task, completed=i + 1, metrics=shown)
    if distributed.current().enabled:
        keys = sorted(totals)
        flat = distributed.all_sum(torch.cat([totals[k].reshape(-1) for k in keys] +
                                             [torch.tensor([float(count)], device=device)]))
        count, offset = int(flat[-1].item()), 0
        for k in keys:
            size = totals[k].numel()
            totals[k] = flat[offset:offset + size].view_as(totals[k])
            offset += size
    return {key: (value / max(count, 1)).tolist() for key, value in totals.items()}  # vectors become lists


class WeightAverage:
    """An exponential moving average of a model's weights and floating-point buffers, updated after every
    optimizer step with one fused lerp (no host sync, unlike torch's AveragedModel, which checks a counter on
    the host every step). `module` is the averaged copy that validation and the best checkpoint use."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0 < decay < 1:
            raise CnnlabError(f"--ema is a decay between 0 and 1 (e.g. 0.99), got {decay}")
        self.model, self.decay = model, decay
        self.module = copy.deepcopy(model).requires_grad_(False)
        mine = [*self.module.parameters(), *self.module.buffers()]
        theirs = [t.detach() for t in (*model.parameters(), *model.buffers())]  # same tensors, updated in place
        self.floats = [(m, t) for m, t in zip(mine, theirs, strict=True) if m.is_floating_point()]
        self.counters = [(m, t) for m, t in zip(mine, theirs, strict=True) if not m.is_floating_point()]

    @torch.no_grad()
    def update(self) -> None:
        torch._foreach_lerp_([m for m, _ in self.floats], [t for _, t in self.floats], 1 - self.decay)
        for mine, theirs in self.counters:
            mine.copy_(theirs)

    def state_dict(self) -> dict:
        return self.module.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state)


def freeze_frozen_norms(model: nn.Module, everywhere: bool = False) -> None:
    """BatchNorm layers whose parameters are frozen (all of them, with `everywhere`) normalise with their
    running statistics and leave them unchanged (eval mode)."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and (
                everywhere or (module.weight is not None and not module.weight.requires_grad)):
            module.eval()


def format_metrics(record: dict) -> str:
    """'train loss 0.1234 acc 95.1% | val loss ...' from an epoch record."""
    parts = []
    for split in ("train", "val"):
        items = [(k[len(split) + 1:], v) for k, v in record.items()
                 if k.startswith(split + "_") and isinstance(v, float)]
        shown = " ".join(f"{k} {v:.2%}" if k == "acc" else f"{k} {v:.4f}" for k, v in items)
        parts.append(f"{split} {shown}")
    return " | ".join(parts)


def make_progress() -> Progress:
    """A transient progress bar; shown on a terminal, by rank 0 only."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[metrics]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                    console=console, transient=True, disable=not console.is_terminal or not distributed.current().main)


def channels_last(cfg: FitConfig, device: torch.device) -> bool:
    """Whether convolutions get NHWC tensors: 'on', or 'auto' on CUDA."""
    return cfg.channels_last == "on" or (cfg.channels_last == "auto" and device.type == "cuda")


def fit(model: nn.Module, step: Step, train_loader, val_loader, cfg: FitConfig, *, device: torch.device,
        run: RunDir | None = None, checkpoint: dict | None = None, extra: dict | None = None,
        default_weight_decay: float = 0.0, callbacks: tuple[Callable[[int, dict], None], ...] = (),
        finalize: Callable[[dict], dict] | None = None) -> FitState:
    """Train `model` through cfg's phases, validating each epoch; resumes from `checkpoint` when given.

    Each epoch's checkpoint (model, optimizer, scheduler, phase, FitState, weight average, `extra`) is written
    atomically to the run folder, with the best one by validation loss beside it (holding the weights that
    were validated: the average when cfg.ema is set). A non-finite loss raises TrainingDiverged and keeps the
    last good checkpoint; Ctrl-C stops after saving state of the last finished epoch. Early stopping ends the
    current phase (the run, when it is the last). `finalize` turns an epoch's averaged sums into the metrics
    recorded (e.g. a confusion matrix into IoU). Under torchrun the ranks train one model data-parallel.
    """
    weight_decay = default_weight_decay if cfg.weight_decay is None else cfg.weight_decay
    state = FitState()
    if channels_last(cfg, device):
        model.to(memory_format=torch.channels_last)
    if checkpoint is not None:
        try:
            model.load_state_dict(checkpoint["model"])
            state = FitState(**checkpoint["state"])
        except (KeyError, TypeError, RuntimeError) as exc:
            raise RunFolderError(f"the run's last checkpoint does not fit its model ({type(exc).__name__}: "
                                 f"{str(exc).splitlines()[0][:160]}); it was replaced or damaged: restore it, or "
                                 "start the run again with --overwrite") from exc
        state.status = "running"
    ema = WeightAverage(model, cfg.ema) if cfg.ema else None
    if ema is not None and checkpoint is not None and "ema" in checkpoint:
        ema.load_state_dict(checkpoint["ema"])
    judged = ema.module if ema is not None else model  # what validation and the best checkpoint use
    eval_net = torch.compile(judged) if cfg.compile else judged
    say = run.log if run is not None else console.print
    loop = _Loop(model, step, train_loader, val_loader, cfg, device, ema, judged, eval_net, finalize)
    start = 0
    try:
        with make_progress() as progress:
            for index, phase in enumerate(cfg.plan()):
                end, begin = start + phase.epochs, start
                start = end
                if state.epoch >= end or state.status == "budget-spent":
                    continue
                optimizer, scheduler = _phase_optimizer(model, phase, cfg, weight_decay, len(train_loader), device)
                loop.train_net = distributed.wrap(model, device)
                if cfg.compile:
                    loop.train_net = torch.compile(loop.train_net)
                    seconds = loop.warm_up()
                    state.compile_seconds += seconds
                    say(f"torch.compile warm-up: {seconds:.1f} s (not counted as training time)")
                if checkpoint is not None and checkpoint.get("phase", 0) == index and state.epoch > begin:
                    optimizer.load_state_dict(checkpoint["optimizer"])
                    scheduler.load_state_dict(checkpoint["scheduler"])
                elif len(cfg.plan()) > 1:
                    state.bad_epochs = 0
                    say(f"phase {phase.name}: {phase.epochs} epochs, {phase.optimizer} lr {phase.lr}, "
                        f"training {phase.train} ({sum(p.numel() for p in model.parameters() if p.requires_grad):,}"
                        " parameters)")
                while state.epoch < end:
                    record = loop.epoch(optimizer, scheduler, state, progress, phase.freeze_norm_stats)
                    record["phase"] = phase.name
                    _finish_epoch(model, judged, ema, optimizer, scheduler, state, record, run,
                                  {**(extra or {}), "phase": index}, say)
                    for callback in callbacks:
                        callback(state.epoch, record)
                    spent = distributed.all_max(sum(r["seconds"] for r in state.history), device)
                    if cfg.max_seconds is not None and spent >= cfg.max_seconds:
                        say(f"time budget spent: {spent:.1f} s of training >= {cfg.max_seconds} s")
                        state.status = "budget-spent"
                        break
                    if cfg.patience is not None and state.bad_epochs >= cfg.patience:
                        say(f"early stop: validation loss has not improved for {cfg.patience} epochs "
                            f"(best at epoch {state.best_epoch})")
                        state.status = "early-stopped" if end == cfg.total_epochs else "running"
                        break
    except KeyboardInterrupt:
        state.status = "interrupted"
        say(f"interrupted: state of epoch {state.epoch} is saved; continue with --resume" if state.epoch else
            "interrupted before the first epoch ended: there is nothing to resume; start the run again",
            style="yellow")
        return state
    if state.status == "running":
        state.status = "finished"
    if ema is not None:  # the caller goes on with the weights it validated
        model.load_state_dict(ema.module.state_dict())
    return state


@dataclass
class _Loop:
    """What one epoch of fit needs: the model as trained (maybe wrapped for DDP and compiled) and as judged."""

    model: nn.Module
    step: Step
    train_loader: object
    val_loader: object
    cfg: FitConfig
    device: torch.device
    ema: WeightAverage | None
    judged: nn.Module
    eval_net: nn.Module
    finalize: Callable[[dict], dict] | None
    train_net: nn.Module | None = None

    @property
    def channels_last(self) -> bool:
        return channels_last(self.cfg, self.device)

    def warm_up(self) -> float:
        """One training and one validation step through the compiled nets, so that compilation happens
        here and is timed apart; weights and buffers are put back exactly as they were."""
        snapshot = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        judged = None if self.judged is self.model else {k: v.detach().clone()
                                                          for k, v in self.judged.state_dict().items()}
        begin = time.perf_counter()
        for net, loader, train in ((self.train_net, self.train_loader, True), (self.eval_net, self.val_loader, False)):
            net.train(train)
            x, y = next(iter(loader))
            if self.channels_last and x.ndim == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.set_grad_enabled(train), autocast(self.device, self.cfg.precision):
                out = self.step(net, x, y)
            if train:
                out.loss.backward()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.model.zero_grad(set_to_none=True)
        self.model.load_state_dict(snapshot)
        if judged is not None:
            self.judged.load_state_dict(judged)
        return time.perf_counter() - begin

    def epoch(self, optimizer, scheduler, state: FitState, progress, freeze_norm_stats: bool) -> dict:
        cfg, epoch = self.cfg, state.epoch
        torch.manual_seed(cfg.seed * 1_000_003 + epoch)  # dropout etc. depend on (seed, epoch) alone
        self.train_loader.set_epoch(epoch)
        task = progress.add_task(f"epoch {epoch + 1}/{cfg.total_epochs}", total=len(self.train_loader), metrics="")
        lr = optimizer.param_groups[0]["lr"]
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        start = time.perf_counter()
        train = run_epoch(self.train_net, self.step, self.train_loader, device=self.device, precision=cfg.precision,
                          optimizer=optimizer, scheduler=scheduler, grad_clip=cfg.grad_clip, progress=progress,
                          task=task, freeze_norm_stats=freeze_norm_stats, ema=self.ema,
                          channels_last=self.channels_last)  # ends by reading the metrics: the device is done
        seconds = time.perf_counter() - start
        progress.remove_task(task)
        if not math.isfinite(train["loss"]):
            state.status = "diverged"
            raise TrainingDiverged(
                f"the training loss became {train['loss']} in epoch {epoch + 1}; the last good checkpoint "
                f"(epoch {epoch}) is kept. Lower the learning rate (now {lr}) or add --grad-clip.")
        val = run_epoch(self.eval_net, self.step, self.val_loader, device=self.device, precision=cfg.precision,
                        channels_last=self.channels_last)
        if self.finalize is not None:
            train, val = self.finalize(train), self.finalize(val)
        return {"epoch": epoch + 1, **{f"train_{k}": v for k, v in train.items()},
                **{f"val_{k}": v for k, v in val.items()}, "lr": lr, "seconds": seconds}


def _phase_optimizer(model: nn.Module, phase: PhaseConfig, cfg: FitConfig, weight_decay: float, steps: int,
                     device: torch.device):
    """Freeze what the phase does not train, then an optimizer (head at lr, the rest at lr * scale) and
    its per-step schedule."""
    if hasattr(model, "set_trainable"):
        model.set_trainable(phase.train)
    elif phase.train != "all":
        raise ValueError(f"{type(model).__name__} cannot train only its head")
    head = {id(p) for p in (model.head_parameters() if hasattr(model, "head_parameters") else [])}
    groups = []
    for part, lr in (("head", phase.lr), ("body", phase.lr * phase.backbone_lr_scale)):
        for group in decay_groups(model, weight_decay, lambda p, part=part: (id(p) in head) == (part == "head")):
            if group["params"]:
                groups.append({**group, "lr": lr})
    optimizer = build_optimizer(groups, phase.optimizer, phase.lr, momentum=phase.momentum, nesterov=phase.nesterov,
                                fused=device.type == "cuda")
    total = phase.epochs * steps
    scheduler = build_scheduler(optimizer, phase.schedule, total, round(cfg.warmup_epochs * steps))
    return optimizer, scheduler


def _finish_epoch(model, judged, ema, optimizer, scheduler, state: FitState, record: dict, run: RunDir | None,
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
            "state": asdict(state), **({"ema": ema.state_dict()} if ema is not None else {}), **(extra or {})}
    if improved:
        run.save_checkpoint({"model": judged.state_dict(), "epoch": state.epoch, **(extra or {})}, best=True)
    run.save_checkpoint(ckpt)
    run.write_metrics(state.history)
