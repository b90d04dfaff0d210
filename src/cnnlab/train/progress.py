"""Progress of long work: a transient bar on a terminal, plain lines otherwise (through the run's log)."""

from __future__ import annotations

import time

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from cnnlab.console import console
from cnnlab.train import distributed


def make_progress() -> Progress:
    """A transient progress bar; shown on a terminal, by rank 0 only."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[metrics]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                    console=console, transient=True, disable=not console.is_terminal or not distributed.current().main)


class EpochBar:
    """One epoch's progress: on a terminal a bar with steps always and running means of the summed metrics
    only off CUDA (reading a value from the GPU would make the host wait for the queue at every refresh);
    elsewhere (a log file, a notebook, CI) a plain line through `say` at most every `every_s` seconds, so a
    long epoch is never silent."""

    def __init__(self, progress: Progress | None, description: str, steps: int, device: torch.device,
                 say=None, every_s: float = 30.0) -> None:
        self.progress, self.steps, self.description = progress, steps, description
        self.live = device.type != "cuda"
        self.every = max(1, steps // 20)
        shown = progress is not None and not progress.disable
        self.task = progress.add_task(description, total=steps, metrics="") if shown else None
        self.say = None if shown else say
        self.every_s, self.start = every_s, time.perf_counter()
        self.last = self.start

    def update(self, step: int, totals: dict[str, torch.Tensor], count: int) -> None:
        """After step `step` (0-based); `totals` are sums over `count` samples (or steps)."""
        if self.say is not None:
            self._line(step)
        if self.task is None or not (step % self.every == 0 or step == self.steps - 1):
            return
        shown = " ".join(f"{k}={v.item() / max(count, 1):.4f}" for k, v in totals.items()
                         if self.live and v.ndim == 0)
        self.progress.update(self.task, completed=step + 1, metrics=shown)

    def _line(self, step: int) -> None:
        now = time.perf_counter()
        if now - self.last >= self.every_s and step + 1 < self.steps:
            self.last = now
            done = (step + 1) / self.steps
            left = (now - self.start) * (1 - done) / done
            self.say(f"{self.description}: {step + 1}/{self.steps} steps, {now - self.start:.0f} s, "
                     f"about {left:.0f} s left")

    def close(self) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)


def counter(progress: Progress, label: str, say, every_s: float = 30.0):
    """A callback (done, total) for long work counted in items: the bar on a terminal, otherwise a plain line
    through `say` at most every `every_s` seconds (a log, a pipe, CI are never silent for long)."""
    shown = not progress.disable
    task = progress.add_task(label, total=None, metrics="") if shown else None
    start = last = time.perf_counter()

    def tick(done: int, total: int) -> None:
        nonlocal last
        if task is not None:
            progress.update(task, completed=done, total=total)
            return
        now = time.perf_counter()
        if now - last >= every_s and done < total:
            last = now
            say(f"{label}: {done:,}/{total:,}, {now - start:.0f} s")

    return tick


def format_metrics(record: dict) -> str:
    """'train loss 0.1234 acc 95.1% | val loss ...' from an epoch record."""
    parts = []
    for split in ("train", "val"):
        items = [(k[len(split) + 1:], v) for k, v in record.items()
                 if k.startswith(split + "_") and isinstance(v, float)]
        shown = " ".join(f"{k} {v:.2%}" if k == "acc" else f"{k} {v:.4f}" for k, v in items)
        parts.append(f"{split} {shown}")
    return " | ".join(parts)
