"""What a room hands the engine to train step by step (the shape of timm's `task/`): the model and the step that
gives its loss, the data of an epoch, how an epoch's record is finished and judged, and what picks the best
checkpoint. `train.loop.fit(task, cfg, ...)` does only the mechanics around it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from cnnlab.train.epoch import Step


@dataclass
class Task:
    """One room's training task.

    `step(model, x, y) -> StepResult` trains on a batch; `finalize` turns an epoch's averaged sums into the metrics
    recorded (e.g. a confusion matrix into IoU); `judge(net)` adds metrics of the validated net to each epoch's
    record (e.g. a retrieval score); `monitor` names the record value that picks the best checkpoint and drives
    early stopping (`maximize`: higher is better); `default_weight_decay` is the model's own, used unless the
    options name one; `config` is the run's config as config.json holds it."""

    name: str  # the room: classify, segment, localize, similarity
    model: nn.Module
    step: Step
    train_loader: Any
    val_loader: Any
    config: dict = field(default_factory=dict)
    finalize: Callable[[dict], dict] | None = None
    judge: Callable[[nn.Module], dict] | None = None
    monitor: str = "val_loss"
    maximize: bool = False
    default_weight_decay: float = 0.0
