"""`cnnlab data audit`: what a data set holds before anything trains on it (counts, sizes, modes, unreadable
files, exact and near duplicates, leakage across splits; for masks the value census, for boxes the checks of every
box), as audit.json, report.html and an exit code."""

from __future__ import annotations

import importlib
import time
from pathlib import Path

from cnnlab.data.audit.duplicates import find_pairs
from cnnlab.data.audit.report import findings, write
from cnnlab.data.audit.scan import scan
from cnnlab.errors import ConfigError

FAIL_ON = ("leakage", "duplicates", "unreadable", "annotations")


def check_fail_on(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in FAIL_ON]
    if unknown:
        raise ConfigError(f"--fail-on takes a comma-separated list of {', '.join(FAIL_ON)}, got {text!r}")
    return kinds


def audited() -> tuple[str, ...]:
    """What --task takes: classify (labelled images, which this layer reads) and every room with an audit module
    of its own (cnnlab/ROOM/audit.py: masks for segment, boxes for localize), found by name as runs find theirs."""
    from importlib.util import find_spec

    from cnnlab.tasks import TASKS

    return ("classify", *(t for t in TASKS if t != "classify" and find_spec(f"cnnlab.{t}.audit")))


def room_audit(task: str):
    """The room's audit module: KEY, prefixes(), scan_data(), problems(); its report part: summary_rows(),
    sections()."""
    return importlib.import_module(f"cnnlab.{task}.audit"), importlib.import_module(f"cnnlab.{task}.audit_report")


def check_task(task: str, name: str) -> None:
    """ConfigError for an unknown --task, or a --data spec that is another task's (voc:PATH for classify, say)."""
    rooms = audited()
    if task not in rooms:
        raise ConfigError(f"--task takes one of {', '.join(rooms)}, got {task!r}")
    prefix = name.partition(":")[0] if ":" in name else ""
    if task == "classify" and prefix and prefix != "folder":
        takers = [t for t in rooms[1:] if prefix in room_audit(t)[0].prefixes()]
        if takers:
            raise ConfigError(f"--data {name} is not a classification data set: add " +
                              " or ".join(f"--task {t}" for t in takers))


def audit(name: str, data_dir: str | None, out: str | Path, seed: int = 0, *, task: str = "classify",
          label: str = "species", attribute: str = "class") -> dict:
    """Audit the data set `name` (as the task's --data takes it) into the folder `out`; the findings."""
    check_task(task, name)
    start = time.perf_counter()
    extra, private, report = {}, {}, None
    if task == "classify":
        s = scan(name, data_dir, seed)
    else:
        room, report = room_audit(task)
        s, extra[room.KEY], private = room.scan_data(name, data_dir, seed, label=label, attribute=attribute)
    pairs = find_pairs(s.digests, s.thumbs)
    result = {**findings(s, pairs, time.perf_counter() - start), "task": task, **extra}
    Path(out).mkdir(parents=True, exist_ok=True)
    sections = [] if report is None else report.sections(result[room.KEY], Path(out), private)
    summary = [] if report is None else report.summary_rows(result[room.KEY])
    write(s, pairs, result, Path(out), summary, sections)
    return result


def annotation_problems(result: dict) -> int:
    """Stray mask values, masks of the wrong size, unpaired files, bad or doubled boxes: 0 for labelled images."""
    if result.get("task", "classify") == "classify":
        return 0
    room, _ = room_audit(result["task"])
    return room.problems(result[room.KEY])


def failures(result: dict, kinds: tuple[str, ...]) -> list[str]:
    """What of `kinds` the audit found, said in words; empty when the data passes."""
    said = []
    if "leakage" in kinds and result["leakage"]["pairs"]:
        said.append(f"leakage: {result['leakage']['held_out_images']} held-out images have a duplicate in training")
    if "duplicates" in kinds and result["exact_duplicates"] + result["near_duplicates"]:
        said.append(f"duplicates: {result['exact_duplicates']} exact and {result['near_duplicates']} near pairs")
    if "unreadable" in kinds and result["unreadable"]:
        said.append(f"unreadable: {len(result['unreadable'])} files")
    if "annotations" in kinds and annotation_problems(result):
        said.append(f"annotations: {annotation_problems(result)} problems with masks or boxes (see audit.json)")
    return said
