"""Every run under a runs folder, read from its files alone (no task's code is imported): `cnnlab runs list`."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from cnnlab.errors import RunFolderError
from cnnlab.tasks import TASKS

# task -> (config key of the model, summary key of the headline metric, its label)
HEADLINE = {"classify": ("model", "test_acc", "test acc"), "similarity": ("model", "map@r", "mAP@R"),
            "segment": ("encoder", "val_miou", "val mIoU"), "generate": ("generator", "fid", "FID-style"),
            "localize": ("model", "mean_iou", "mean IoU")}


@dataclass
class RunRow:
    task: str
    name: str
    model: str
    data: str
    metric: str
    epochs: int
    seconds: float | None
    status: str
    path: str

    def to_dict(self) -> dict:
        return asdict(self)


def _json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _epochs(folder: Path) -> list[dict]:
    try:
        lines = (folder / "metrics.jsonl").read_text().splitlines()
    except OSError:
        return []
    rows = []
    for line in lines:
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return [r for r in rows if isinstance(r, dict)]


def task_of(folder: Path) -> str:
    """The task a run folder belongs to: its .cnnlab-run marker's, its config.json's, or the name of the folder
    it is in."""
    task = (_json(folder / ".cnnlab-run").get("task") or _json(folder / "config.json").get("task")
            or folder.parent.name)
    if task not in TASKS:
        raise RunFolderError(f"{folder} does not say which task it is a run of (no .cnnlab-run marker, and not in a "
                             f"{', '.join(TASKS)} folder)")
    return task


def task_of_run(path: str | Path) -> str:
    """The task of the run folder `path`, checked as a run folder (RunFolderError for anything else): the one way
    cnnlab finds which room a run belongs to (cnnlab.load, cnnlab export, explain cam)."""
    from cnnlab.train.run import RunDir

    folder = RunDir.open(Path(path))
    task = task_of(folder.path)
    folder.check_task(task)
    return task


def describe(folder: Path, task: str) -> RunRow:
    """One run's row; what its files do not say is left blank, a damaged file never stops the listing."""
    config, summary, history = _json(folder / "config.json"), _json(folder / "summary.json"), _epochs(folder)
    model_key, metric_key, label = HEADLINE[task]
    data = config.get("data")
    data = data.get("name", "") if isinstance(data, dict) else str(data or "")
    value = summary.get(metric_key)
    metric = f"{label} {value:.4g}" if isinstance(value, int | float) else ""
    seconds = summary.get("train_seconds")
    if not isinstance(seconds, int | float):
        seconds = sum(r.get("seconds", 0) for r in history if isinstance(r.get("seconds", 0), int | float)) or None
    status = summary.get("status") or ("unfinished" if (folder / "checkpoints" / "last.pt").is_file() else "empty")
    return RunRow(task, folder.name, str(config.get(model_key, "")), data, metric, len(history), seconds,
                  str(status), str(folder))


def list_runs(runs_dir: str | Path, task: str | None = None) -> list[RunRow]:
    """The runs in runs_dir/<task>/<name>/ (folders with a config.json), sorted by task and name."""
    root = Path(runs_dir)
    if not root.is_dir():
        raise RunFolderError(f"{root} is not a folder; pass the folder your runs are in with --runs-dir")
    if task is not None and task not in TASKS:
        raise RunFolderError(f"--task must be one of {', '.join(TASKS)}, got {task!r}")
    rows = []
    for name in [task] if task else TASKS:
        base = root / name
        if not base.is_dir():
            continue
        for folder in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if (folder / "config.json").is_file():
                rows.append(describe(folder, name))
    return rows
