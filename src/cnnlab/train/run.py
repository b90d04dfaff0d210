"""A run is a folder: config.json, metrics.jsonl, checkpoints/, log.txt, plots and report.html."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from rich.console import Console

from cnnlab.errors import RunFolderError
from cnnlab.train import distributed
from cnnlab.train.checkpoint import load_checkpoint, save_atomic

console = Console(highlight=False, emoji=False)


def write_json_atomic(path: Path, obj: object) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str))
    os.replace(tmp, path)


class RunDir:
    """Paths and small I/O of one run folder. A read-only one (the other ranks of a data-parallel run) reads
    like any other, and its writes and log lines go nowhere: rank 0 writes for all."""

    def __init__(self, path: str | Path, writable: bool = True) -> None:
        self.path = Path(path)
        self.writable = writable

    @classmethod
    def create(cls, path: str | Path, *, resume: bool = False, overwrite: bool = False) -> RunDir:
        """Make the folder; an existing one is refused unless resuming or overwriting."""
        run = cls(path)
        exists = run.path.exists() and any(run.path.iterdir())
        if resume:
            if not run.last_checkpoint.is_file():
                raise RunFolderError(f"cannot resume: {run.last_checkpoint} does not exist")
        elif exists and overwrite:
            shutil.rmtree(run.path)
        elif exists:
            raise RunFolderError(f"run folder {run.path} already exists; pass --resume to continue it, "
                                 "--overwrite to replace it, or choose another --name")
        (run.path / "checkpoints").mkdir(parents=True, exist_ok=True)
        return run

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        """An existing, finished-or-not run folder."""
        run = cls(path)
        if not run.config_path.is_file():
            raise RunFolderError(f"{run.path} is not a cnnlab run folder (no config.json)")
        return run

    config_path = property(lambda self: self.path / "config.json")
    metrics_path = property(lambda self: self.path / "metrics.jsonl")
    last_checkpoint = property(lambda self: self.path / "checkpoints" / "last.pt")
    best_checkpoint = property(lambda self: self.path / "checkpoints" / "best.pt")

    def write_json(self, name: str, obj: object) -> None:
        if self.writable:
            write_json_atomic(self.path / name, obj)

    def read_json(self, name: str) -> dict:
        path = self.path / name
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            raise RunFolderError(f"{path} is missing") from None
        except json.JSONDecodeError as exc:
            raise RunFolderError(f"{path} is not valid JSON: {exc}") from exc

    def write_metrics(self, history: list[dict]) -> None:
        """Rewrite metrics.jsonl from the history (one line per epoch)."""
        if not self.writable:
            return
        tmp = self.metrics_path.with_name(".metrics.jsonl.tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in history))
        os.replace(tmp, self.metrics_path)

    def read_metrics(self) -> list[dict]:
        if not self.metrics_path.is_file():
            return []
        return [json.loads(line) for line in self.metrics_path.read_text().splitlines() if line.strip()]

    def save_checkpoint(self, state: dict, best: bool = False) -> None:
        if self.writable:
            save_atomic(state, self.best_checkpoint if best else self.last_checkpoint)

    def load_checkpoint(self, best: bool = False) -> dict:
        return load_checkpoint(self.best_checkpoint if best else self.last_checkpoint)

    def log(self, message: str, style: str | None = None) -> None:
        if not self.writable:
            return
        console.print(message, style=style)
        with open(self.path / "log.txt", "a") as f:
            f.write(message + "\n")


def start_run(cfg, from_dict, *, resume: bool, overwrite: bool):
    """The run folder for `cfg` (anything with run_path and to_dict) and the config to train with.

    A new run writes cfg as config.json and returns (run, cfg, None); a resumed run returns the folder's
    own config (read with `from_dict`) and its last checkpoint. In a data-parallel run rank 0 makes the
    folder and the other ranks get a read-only view of it."""
    ranks = distributed.current()
    if ranks.main:
        run = RunDir.create(cfg.run_path, resume=resume, overwrite=overwrite)
        if not resume:
            run.write_json("config.json", cfg.to_dict())
    distributed.barrier()
    if not ranks.main:
        run = RunDir(cfg.run_path, writable=False)
    if not resume:
        return run, cfg, None
    return run, from_dict(run.read_json("config.json")), run.load_checkpoint()
