"""The engine every task trains through: epochs, seeding, progress, Ctrl-C, the time budget, divergence,
early stopping, checkpoints and the metrics files. A task plugs in what one epoch does (`fit`: a
step-based epoch over a loader; the GAN: its two-optimizer epoch) and what its checkpoint holds."""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace

import torch

from cnnlab.console import console
from cnnlab.errors import TrainingDiverged
from cnnlab.options import said
from cnnlab.session import current as current_session
from cnnlab.train import distributed
from cnnlab.train.board import Board
from cnnlab.train.checkpoint import stamp
from cnnlab.train.progress import EpochBar, format_metrics, make_progress
from cnnlab.train.run import RunDir, config_record

Callback = Callable[[int, dict], None]  # (epochs done, the epoch's record); may raise KeyboardInterrupt


@dataclass
class EngineState:
    """Everything besides the weights that a resumed run needs to continue exactly."""

    epoch: int = 0  # completed epochs
    history: list[dict] = field(default_factory=list)
    best_loss: float = math.inf  # the best monitored value, as minimised (negated when higher is better)
    best_epoch: int = -1
    bad_epochs: int = 0
    status: str = "running"  # running, finished, early-stopped, budget-spent, interrupted, diverged
    compile_seconds: float = 0.0  # one-off torch.compile warm-up, not in any epoch's seconds


def _no_advice(record: dict) -> str:
    return ""


@dataclass(frozen=True)
class EngineSpec:
    """What the engine needs to know of a run."""

    task: str
    config: dict  # the run's config, stored in every checkpoint
    seed: int
    total_epochs: int
    max_seconds: float | None = None  # training seconds, summed over epochs
    patience: int | None = None  # epochs without a better monitored value before a stop
    monitor: str | None = "val_loss"  # what picks the best checkpoint and drives patience; None: no best checkpoint
    maximize: bool = False  # the monitored value is better higher (a retrieval score), not lower (a loss)
    finite: tuple[tuple[str, str], ...] = (("train_loss", "the training loss"),)  # (key, words): stay finite
    advice: Callable[[dict], str] = _no_advice  # what to do when one does not
    describe: Callable[[dict], str] = format_metrics  # an epoch's log line
    tensorboard: bool = False  # epochs' numbers (and a task's images) as TensorBoard events in RUN/tensorboard


class Engine:
    """Runs epochs for one task and keeps its run folder: `with engine.session(): engine.run_until(...)`."""

    def __init__(self, spec: EngineSpec, *, device: torch.device, run: RunDir | None = None,
                 state: EngineState | None = None, callbacks: tuple[Callback, ...] = ()) -> None:
        config = config_record(spec.config, spec.task) if spec.config else {}
        config = json.loads(json.dumps(config, default=str))  # as config.json holds it: lists, not tuples
        called_in = current_session()  # cnnlab.TASK.train(..., callbacks=[...]) reaches every run it trains
        self.callbacks = (*callbacks, *(called_in.callbacks if called_in is not None else ()))
        self.spec, self.device, self.run = replace(spec, config=config), device, run
        self.state = state if state is not None else EngineState()
        self.state.status = "running"
        self.say = run.log if run is not None else console.print
        self.progress = None
        self.board = Board(run.path if run is not None and run.writable else None, spec.tensorboard)

    @contextlib.contextmanager
    def session(self) -> Iterator[Engine]:
        """Progress bars for the epochs inside; Ctrl-C ends the session with the last finished epoch saved."""
        try:
            with make_progress() as self.progress:
                yield self
        except KeyboardInterrupt:
            self.state.status = "interrupted"
            done = self.state.epoch
            self.say(f"interrupted: state of epoch {done} is saved; continue with {said('resume', True)}" if done else
                     "interrupted before the first epoch ended: there is nothing to resume; start the run again",
                     style="yellow")
        finally:
            self.progress = None
            self.board.close()
        if self.state.status == "running":
            self.state.status = "finished"

    def bar(self, steps: int) -> EpochBar:
        """The progress bar of the epoch being run."""
        return EpochBar(self.progress, f"epoch {self.state.epoch + 1}/{self.spec.total_epochs}", steps, self.device,
                        say=self.say)

    def run_until(self, end: int, epoch: Callable[[int], dict], save: Callable[[], dict],
                  save_best: Callable[[], dict] | None = None) -> str:
        """Epochs until `end` epochs are done: 'end'; or a stop: 'budget' (time spent, status budget-spent) or
        'patience' (no better monitored value for spec.patience epochs; the caller sets the status).
        `epoch(index)` trains one and returns its record (with 'seconds'); `save()` gives the checkpoint's
        parts, `save_best()` those of the best checkpoint (weights as validated)."""
        spec, state = self.spec, self.state
        while state.epoch < end:
            if self._patience_spent():  # a run resumed right after the epoch that spent it
                return "patience"
            torch.manual_seed(spec.seed * 1_000_003 + state.epoch)  # dropout etc. depend on (seed, epoch) alone
            record = epoch(state.epoch)
            self._check_finite(record)
            improved = self._record(record)
            self._save(save(), save_best() if improved and save_best is not None else None)
            for callback in self.callbacks:
                callback(state.epoch, record)
            spent = distributed.all_max(sum(r["seconds"] for r in state.history), self.device)
            if spec.max_seconds is not None and spent >= spec.max_seconds:
                self.say(f"time budget spent: {spent:.1f} s of training >= {spec.max_seconds} s")
                state.status = "budget-spent"
                return "budget"
            if self._patience_spent():
                return "patience"
        return "end"

    def seconds_left(self) -> float | None:
        """Training seconds left of the time budget; None without one, or under torchrun (the ranks would
        stop at different steps, so there the budget is checked between epochs only)."""
        if self.spec.max_seconds is None or distributed.current().enabled:
            return None
        return self.spec.max_seconds - sum(r["seconds"] for r in self.state.history)

    def _patience_spent(self) -> bool:
        spec, state = self.spec, self.state
        if spec.patience is None or state.bad_epochs < spec.patience:
            return False
        self.say(f"early stop: {spec.monitor} has not improved for {spec.patience} epochs (best at epoch "
                 f"{state.best_epoch})")
        return True

    def _check_finite(self, record: dict) -> None:
        for key, words in self.spec.finite:
            if key in record and not math.isfinite(record[key]):
                self.state.status = "diverged"
                done = self.state.epoch
                raise TrainingDiverged(f"{words} became {record[key]} in epoch {done + 1}; the last "
                                       f"good checkpoint (epoch {done}) is kept. {self.spec.advice(record)}".strip())

    def _record(self, record: dict) -> bool:
        """Count the epoch in; whether its monitored value is the best so far."""
        state, monitor = self.state, self.spec.monitor
        state.epoch += 1
        state.history.append(record)
        value = None if monitor is None else (-record[monitor] if self.spec.maximize else record[monitor])
        improved = value is not None and value < state.best_loss
        if improved:
            state.best_loss, state.best_epoch, state.bad_epochs = value, state.epoch, 0
        elif monitor is not None:
            state.bad_epochs += 1
        self.say(f"epoch {state.epoch:>3}  {self.spec.describe(record)}  {record['seconds']:.1f}s"
                 + ("  *" if improved else ""))
        return improved

    def _save(self, parts: dict, best: dict | None) -> None:
        """The best checkpoint (when improved), then the last one and the metrics files, each atomic."""
        if self.run is None:
            return
        spec, epoch = self.spec, self.state.epoch
        if best is not None:
            self.run.save_checkpoint(stamp({**best, "epoch": epoch}, task=spec.task, config=spec.config), best=True)
        self.run.save_checkpoint(stamp({**parts, "epoch": epoch, "engine": asdict(self.state)}, task=spec.task,
                                       config=spec.config))
        self.run.write_metrics(self.state.history)
        self.board.epoch(self.state.history[-1], epoch)
