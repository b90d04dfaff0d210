"""A run is a folder: config.json, metrics.jsonl, checkpoints/, log.txt, plots and report.html."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import shutil
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; runs are still refused when their folder exists
    fcntl = None

from cnnlab import atomic
from cnnlab.console import console, log
from cnnlab.errors import ConfigError, RunFolderError
from cnnlab.options import said
from cnnlab.session import current as current_session
from cnnlab.train import distributed
from cnnlab.train.checkpoint import load_checkpoint, save_atomic
from cnnlab.train.names import check_run_name


def write_json_atomic(path: Path, obj: object) -> None:
    atomic.write_text(path, json.dumps(obj, indent=2, default=str))


def results_csv(history: list[dict]) -> str:
    """The epochs as CSV: a column for every number or text that any epoch recorded (lists are left out)."""
    columns = list(dict.fromkeys(k for r in history for k, v in r.items() if isinstance(v, int | float | str)))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    return buffer.getvalue()


MARKER = ".cnnlab-run"  # in every run folder cnnlab makes: --overwrite removes only folders that hold it


def _lock(lock_path: Path) -> int | None:
    """An exclusive lock on `lock_path`, held for the life of this process (or until RunDir.discard_if_unfinished);
    RunFolderError if another process holds it. A POSIX record lock belongs to the process, so taking it again in
    the process that holds it (a notebook resuming its run) succeeds: no table of the locks held is needed."""
    if fcntl is None:
        return None
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise RunFolderError(f"{lock_path.parent / lock_path.name[1:-5]} is in use by another cnnlab process; "
                             f"wait for it to end or choose another {said('name')}") from None
    return fd


class RunDir:
    """Paths and small I/O of one run folder. A read-only one (the other ranks of a data-parallel run) reads
    like any other, and its writes and log lines go nowhere: rank 0 writes for all."""

    def __init__(self, path: str | Path, writable: bool = True) -> None:
        self.path = Path(path)
        self.writable = writable
        self.made: list[Path] = []  # folders above the run that create() made
        self.lock_path: Path | None = None
        self.lock_fd: int | None = None

    @classmethod
    def create(cls, path: str | Path, *, resume: bool = False, overwrite: bool = False,
               task: str | None = None) -> RunDir:
        """Make the folder; an existing one is refused unless resuming or overwriting.

        The folder is locked for the life of this process, so two runs on one name never share or delete each
        other's files. --overwrite removes only a folder cnnlab made (one holding the marker file); a folder
        that cnnlab made but that never finished an epoch (a failed start) is replaced without asking."""
        run = cls(path)
        if ".." in run.path.parts:
            raise ConfigError(f"run folder {run.path} contains '..'; pass a plain {said('name')}")
        if run.path.is_symlink():
            raise RunFolderError(f"{run.path} is a symbolic link; cnnlab neither follows nor removes links for run "
                                 f"folders: choose another {said('name')}")
        task = task or run.path.parent.name
        blocking = next((p for p in (run.path.parent, *run.path.parent.parents) if p.exists() and not p.is_dir()), None)
        if blocking is not None:
            raise RunFolderError(f"{blocking} is a file, not a folder, so the run folder {run.path} cannot be made "
                                 f"there; pass another {said('runs_dir')}")
        run.made = [p for p in (run.path.parent, *run.path.parent.parents) if not p.exists()]  # removed if unused
        run.path.parent.mkdir(parents=True, exist_ok=True)
        run.lock_path = run.path.parent / f".{run.path.name}.lock"
        run.lock_fd = _lock(run.lock_path)
        exists = run.path.exists() and (not run.path.is_dir() or any(run.path.iterdir()))
        ours = (run.path / MARKER).is_file()
        if resume:
            if not run.last_checkpoint.is_file():
                raise RunFolderError(f"cannot resume: {run.last_checkpoint} does not exist")
            run.check_task(task)
            return run
        if exists and not ours:
            raise RunFolderError(f"{run.path} exists and was not made by cnnlab (no {MARKER} file), so it is left "
                                 f"alone; choose another {said('name')} or {said('runs_dir')}")
        if exists and not overwrite and run.last_checkpoint.is_file():
            raise RunFolderError(f"run folder {run.path} already exists; pass {said('resume', True)} to continue it, "
                                 f"{said('overwrite', True)} to replace it, or choose another {said('name')}")
        if exists:
            run.check_task(task)
            trash = run.path.with_name(f".{run.path.name}.removing-{os.getpid()}")
            os.replace(run.path, trash)  # one atomic step: the name is never half deleted
            shutil.rmtree(trash)
        (run.path / "checkpoints").mkdir(parents=True, exist_ok=True)
        write_json_atomic(run.path / MARKER, {"task": task, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        made_in = current_session()
        if made_in is not None:  # removed again if this start fails (cnnlab.session)
            made_in.fresh.append(run)
        return run

    @classmethod
    def open(cls, path: str | Path, task: str | None = None) -> RunDir:
        """An existing, finished-or-not run folder; with `task`, one of that task."""
        run = cls(path)
        if not run.path.is_dir():
            raise RunFolderError(f"{run.path} is not a folder; pass a run folder such as runs/classify/NAME")
        if not run.config_path.is_file():
            raise RunFolderError(f"{run.path} is not a cnnlab run folder (no config.json)")
        if task is not None:
            run.check_task(task)
        return run

    def check_task(self, task: str) -> None:
        """RunFolderError when the folder's marker says it is a run of another task."""
        marker = self.path / MARKER
        if not marker.is_file():
            return  # a run from before the marker existed: the config's own checks decide
        try:
            made_by = json.loads(marker.read_text()).get("task")
        except (OSError, ValueError, AttributeError):
            raise RunFolderError(f"{marker} is damaged; this folder cannot be used as a run") from None
        if made_by != task:
            raise RunFolderError(f"{self.path} is a {made_by} run, not a {task} run; pass a run folder of "
                                 f"runs/{task}/")

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
        """Rewrite metrics.jsonl (one line per epoch) and results.csv (one row per epoch, a column per number)
        from the history."""
        if not self.writable:
            return
        atomic.write_text(self.metrics_path, "".join(json.dumps(r) + "\n" for r in history))
        atomic.write_text(self.path / "results.csv", results_csv(history))

    def read_metrics(self) -> list[dict]:
        if not self.metrics_path.is_file():
            return []
        return [json.loads(line) for line in self.metrics_path.read_text().splitlines() if line.strip()]

    def save_checkpoint(self, state: dict, best: bool = False) -> None:
        if self.writable:
            save_atomic(state, self.best_checkpoint if best else self.last_checkpoint)

    def load_checkpoint(self, best: bool = False) -> dict:
        return load_checkpoint(self.best_checkpoint if best else self.last_checkpoint)

    def discard_if_unfinished(self) -> None:
        """Remove this folder when cnnlab made it and it never finished an epoch, its lock file and the empty folders
        above it that create() made (a start that failed: cnnlab.session.Session.discard_failed_starts)."""
        if not (self.path.is_dir() and (self.path / MARKER).is_file() and not self.last_checkpoint.is_file()):
            return
        shutil.rmtree(self.path, ignore_errors=True)
        if self.lock_path is not None and self.lock_fd is not None:
            self.lock_path.unlink(missing_ok=True)  # while still held, so no other process has it half-taken
            os.close(self.lock_fd)  # the process's lock on the file goes with it
            self.lock_fd = None
        for folder in self.made:  # innermost first; only the empty ones go
            with contextlib.suppress(OSError):
                folder.rmdir()

    def log(self, message: str, style: str | None = None) -> None:
        if not self.writable:
            return
        console.print(message, style=style)
        log.log(logging.WARNING if style in ("yellow", "red") else logging.INFO, message)  # routable from Python
        with open(self.path / "log.txt", "a") as f:
            f.write(message + "\n")


def open_trained(run_path: str | Path, task: str, from_dict) -> tuple[RunDir, object, dict]:
    """A finished-or-not run of `task` with a best checkpoint: (run, its config read with `from_dict`, the
    checkpoint). RunFolderError naming the folder for another task's folder, a damaged config or no model yet."""
    run = RunDir.open(run_path, task=task)
    try:
        cfg = from_dict(run.read_json("config.json"))  # another task's folder is named as such
    except RunFolderError as exc:
        raise RunFolderError(f"{run.path}: {exc}") from None
    if not run.best_checkpoint.is_file():
        raise RunFolderError(f"{run.path} has no trained model yet ({run.best_checkpoint} is missing); train it with "
                             f"`cnnlab {task} train`, or continue it with {said('resume', True)}")
    return run, cfg, run.load_checkpoint(best=True)


def config_record(config: dict, task: str) -> dict:
    """What config.json holds: the task and the cnnlab version that made the run, then its settings (the
    configs' from_dict leave the first two aside)."""
    from cnnlab import __version__

    return {"task": task, "cnnlab": __version__, **config}


def start_run(cfg, from_dict, *, resume: bool, overwrite: bool, given: set[str] | None = None,
              aliases: dict[str, tuple[str, ...]] | None = None, extendable: tuple[str, ...] = ("fit.epochs",)):
    """The run folder for `cfg` (anything with run_path and to_dict) and the config to train with.

    A new run writes cfg as config.json and returns (run, cfg, None); a resumed run returns the folder's
    own config (read with `from_dict`) and its last checkpoint. `given` names the options the user typed
    beside --resume: they must agree with the run's config, except --epochs (a larger number extends the
    run), --max-seconds and --device (see cnnlab.train.resume). In a data-parallel run rank 0 makes the
    folder and the other ranks get a read-only view of it."""
    from cnnlab.train.resume import resumed_config

    ranks = distributed.current()
    check_run_name(getattr(cfg, "name", None))
    task = Path(cfg.run_path).parent.name
    if ranks.main:
        run = RunDir.create(cfg.run_path, resume=resume, overwrite=overwrite)
        made_in = current_session()
        if made_in is not None:
            made_in.started.append(run.path)
        if not resume:
            run.write_json("config.json", config_record(cfg.to_dict(), task))
    distributed.barrier()
    if not ranks.main:
        run = RunDir(cfg.run_path, writable=False)
    if not resume:
        return run, cfg, None
    stored = from_dict(run.read_json("config.json"))
    resumed = resumed_config(stored, cfg, given or set(), from_dict, aliases, extendable)
    if resumed is not stored:
        run.write_json("config.json", config_record(resumed.to_dict(), task))
    return run, resumed, run.load_checkpoint()
