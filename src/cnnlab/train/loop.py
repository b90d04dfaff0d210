"""`fit`: supervised training through the engine, in phases (e.g. a frozen backbone, then fine-tuning).

A task hands in a `step(model, x, y) -> StepResult`; each epoch trains over the loader with it and then
validates. The engine (`cnnlab.train.engine`) does the rest: seeding, progress, Ctrl-C, the time budget,
divergence, early stopping, checkpoints and the metrics files.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from cnnlab.errors import DataError, RunFolderError
from cnnlab.options import said
from cnnlab.train import distributed
from cnnlab.train.average import WeightAverage
from cnnlab.train.config import FitConfig, PhaseConfig
from cnnlab.train.device import autocast, uses_channels_last
from cnnlab.train.engine import Engine, EngineSpec, EngineState
from cnnlab.train.epoch import Deadline, Step, StepResult, run_epoch
from cnnlab.train.optim import build_optimizer, build_scheduler, decay_groups
from cnnlab.train.progress import format_metrics, make_progress
from cnnlab.train.run import RunDir
from cnnlab.train.task import Task

FitState = EngineState  # the name tasks know the engine's state by
__all__ = ["FitState", "Step", "StepResult", "Task", "WeightAverage", "fit", "format_metrics", "make_progress",
           "run_epoch"]


def channels_last(cfg: FitConfig, device: torch.device) -> bool:
    """Whether convolutions get NHWC tensors (train.device.uses_channels_last of cfg's option)."""
    return uses_channels_last(cfg.channels_last, device)


def fit(task: Task, cfg: FitConfig, *, device: torch.device, run: RunDir | None = None,
        checkpoint: dict | None = None, extra: dict | None = None,
        callbacks: tuple[Callable[[int, dict], None], ...] = ()) -> FitState:
    """Train `task.model` through cfg's phases, validating each epoch; resumes from `checkpoint` when given.

    Each epoch's checkpoint (model, optimizer, scheduler, phase, engine state, weight average, `extra`) is
    written atomically to the run folder, with the best one by the task's monitored value beside it (holding the
    weights that were validated: the average when cfg.ema is set). A non-finite loss raises TrainingDiverged and
    keeps the last good checkpoint; Ctrl-C stops after saving state of the last finished epoch. Early stopping
    ends the current phase (the run, when it is the last). Under torchrun the ranks train one model
    data-parallel.
    """
    model = task.model
    if channels_last(cfg, device):
        model.to(memory_format=torch.channels_last)
    state = _restore(model, checkpoint)
    ema = WeightAverage(model, cfg.ema) if cfg.ema else None
    if ema is not None and checkpoint is not None and "ema" in checkpoint.get("nets", {}):
        ema.load_state_dict(checkpoint["nets"]["ema"])
    spec = EngineSpec(task=task.name or (run.path.parent.name if run is not None else ""), config=task.config,
                      seed=cfg.seed, total_epochs=cfg.total_epochs, max_seconds=cfg.max_seconds,
                      patience=cfg.patience, tensorboard=cfg.tensorboard, advice=_advice, monitor=task.monitor,
                      maximize=task.maximize)
    engine = Engine(spec, device=device, run=run, state=state, callbacks=callbacks)
    loop = _Loop(task, cfg, device, ema, engine)
    weight_decay = task.default_weight_decay if cfg.weight_decay is None else cfg.weight_decay
    at = checkpoint.get("phase", 0) if checkpoint is not None else 0  # the phase the resumed run was in
    with engine.session():
        start = 0
        for index, phase in enumerate(cfg.plan()):
            start += phase.epochs
            if index < at or state.epoch >= start:  # done, or ended early (patience) before the checkpoint
                continue
            loop.start_phase(index, phase, weight_decay, checkpoint if index == at else None)
            stop = engine.run_until(start, loop.epoch, lambda i=index: loop.parts(i, extra), loop.best(extra))
            if stop == "patience" and start == cfg.total_epochs:
                state.status = "early-stopped"
            if stop == "budget":
                break
    if ema is not None and state.status != "interrupted":  # the caller goes on with the weights it validated
        model.load_state_dict(ema.module.state_dict())
    return state


def _advice(record: dict) -> str:
    return f"Lower the learning rate (now {record['lr']}) or add {said('grad_clip')}."


def _restore(model: nn.Module, checkpoint: dict | None) -> FitState:
    """The model's weights and the engine's state from a checkpoint (a fresh state without one)."""
    if checkpoint is None:
        return FitState()
    try:
        model.load_state_dict(checkpoint["model"])
        return FitState(**checkpoint["engine"])
    except (KeyError, TypeError, RuntimeError) as exc:
        raise RunFolderError(f"the run's last checkpoint does not fit its model ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0][:160]}); it was replaced or damaged: restore it, or "
                             f"start the run again with {said('overwrite', True)}") from exc


@dataclass
class _Loop:
    """fit's plug into the engine: the model as trained (maybe wrapped for DDP and compiled) and as judged
    (the weight average when there is one), the phase's optimizer, and one epoch of training + validation."""

    task: Task
    cfg: FitConfig
    device: torch.device
    ema: WeightAverage | None
    engine: Engine
    train_net: nn.Module | None = None
    optimizer: torch.optim.Optimizer | None = None
    scheduler: object = None
    phase: PhaseConfig | None = None

    def __post_init__(self) -> None:
        self.model, self.step, self.finalize, self.judge = self.task.model, self.task.step, self.task.finalize, \
            self.task.judge
        self.train_loader, self.val_loader = self.task.train_loader, self.task.val_loader
        self.judged = self.ema.module if self.ema is not None else self.model
        self.eval_net = torch.compile(self.judged) if self.cfg.compile else self.judged
        self.channels_last = channels_last(self.cfg, self.device)

    def start_phase(self, index: int, phase: PhaseConfig, weight_decay: float, checkpoint: dict | None) -> None:
        """The phase's optimizer and schedule (restored from `checkpoint` when it stopped inside this phase)."""
        self.phase = phase
        self.optimizer, self.scheduler = _phase_optimizer(self.model, phase, self.cfg, weight_decay,
                                                          len(self.train_loader), self.device)
        self.train_net = distributed.wrap(self.model, self.device)
        if self.cfg.compile:
            self.train_net = torch.compile(self.train_net)
            seconds = self.warm_up()
            self.engine.state.compile_seconds += seconds
            self.engine.say(f"torch.compile warm-up: {seconds:.1f} s (not counted as training time)")
        if checkpoint is not None and checkpoint.get("phase", 0) == index:
            self.optimizer.load_state_dict(checkpoint["optimizers"]["main"])
            self.scheduler.load_state_dict(checkpoint["schedulers"]["main"])
        elif len(self.cfg.plan()) > 1:
            self.engine.state.bad_epochs = 0
            trained = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
            self.engine.say(f"phase {phase.name}: {phase.epochs} epochs, {phase.optimizer} lr {phase.lr}, "
                            f"training {phase.train} ({trained:,} parameters)")

    def parts(self, phase: int, extra: dict | None) -> dict:
        """The last checkpoint's parts."""
        return {"model": self.model.state_dict(), "optimizers": {"main": self.optimizer.state_dict()},
                "schedulers": {"main": self.scheduler.state_dict()}, "phase": phase, **(extra or {}),
                **({"nets": {"ema": self.ema.state_dict()}} if self.ema is not None else {})}

    def best(self, extra: dict | None) -> Callable[[], dict]:
        return lambda: {"model": self.judged.state_dict(), **(extra or {})}

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

    def epoch(self, epoch: int) -> dict:
        """Train one epoch, then validate (not when the training loss is no longer finite)."""
        cfg = self.cfg
        self.train_loader.set_epoch(epoch)
        bar = self.engine.bar(len(self.train_loader))
        lr = self.optimizer.param_groups[0]["lr"]
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        start = time.perf_counter()
        left = self.engine.seconds_left()
        deadline = None if left is None else Deadline(start + left)
        train = run_epoch(self.train_net, self.step, self.train_loader, device=self.device, precision=cfg.precision,
                          optimizer=self.optimizer, scheduler=self.scheduler, grad_clip=cfg.grad_clip, bar=bar,
                          freeze_norm_stats=self.phase.freeze_norm_stats, ema=self.ema,
                          channels_last=self.channels_last, deadline=deadline)  # reads the metrics: device done
        seconds = time.perf_counter() - start
        bar.close()
        if deadline is not None and deadline.cut_after is not None:
            self.engine.say(f"time budget spent during epoch {epoch + 1}: stopped after {deadline.cut_after} of "
                            f"{len(self.train_loader)} steps; validating the weights as they are")
        if "loss" not in train:  # every batch was dropped: a loader cannot make one full batch of the data
            raise DataError(f"no training batch in epoch {epoch + 1}: the training images do not fill one batch of "
                            f"{getattr(self.train_loader, 'batch_size', '?')}; lower {said('batch_size')} or give "
                            "more images")
        record = {"epoch": epoch + 1, **{f"train_{k}": v for k, v in train.items()}, "lr": lr, "seconds": seconds,
                  "phase": self.phase.name}
        if not math.isfinite(train["loss"]):
            return record  # the engine stops the run
        val = run_epoch(self.eval_net, self.step, self.val_loader, device=self.device, precision=cfg.precision,
                        channels_last=self.channels_last)
        if self.finalize is not None:
            train, val = self.finalize(train), self.finalize(val)
        if self.judge is not None:
            val.update(self.judge(self.judged))
        return {"epoch": epoch + 1, **{f"train_{k}": v for k, v in train.items()},
                **{f"val_{k}": v for k, v in val.items()}, "lr": lr, "seconds": seconds, "phase": self.phase.name}


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
                                fused=device.type in ("cuda", "cpu"))  # fused: one kernel, also on CPU
    total = phase.epochs * steps
    scheduler = build_scheduler(optimizer, phase.schedule, total, round(cfg.warmup_epochs * steps))
    return optimizer, scheduler
