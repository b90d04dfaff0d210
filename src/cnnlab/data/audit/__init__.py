"""`cnnlab data audit`: what a data set holds before anything trains on it (counts, sizes, modes, unreadable
files, exact and near duplicates, leakage across splits), as audit.json, report.html and an exit code."""

from __future__ import annotations

import time
from pathlib import Path

from cnnlab.data.audit.duplicates import find_pairs
from cnnlab.data.audit.report import findings, write
from cnnlab.data.audit.scan import scan
from cnnlab.errors import ConfigError

FAIL_ON = ("leakage", "duplicates", "unreadable")


def check_fail_on(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in FAIL_ON]
    if unknown:
        raise ConfigError(f"--fail-on takes a comma-separated list of {', '.join(FAIL_ON)}, got {text!r}")
    return kinds


def audit(name: str, data_dir: str | None, out: str | Path, seed: int = 0) -> dict:
    """Audit the data set `name` (as --data takes it) into the folder `out`; the findings."""
    start = time.perf_counter()
    s = scan(name, data_dir, seed)
    pairs = find_pairs(s.digests, s.thumbs)
    result = findings(s, pairs, time.perf_counter() - start)
    write(s, pairs, result, Path(out))
    return result


def failures(result: dict, kinds: tuple[str, ...]) -> list[str]:
    """What of `kinds` the audit found, said in words; empty when the data passes."""
    said = []
    if "leakage" in kinds and result["leakage"]["pairs"]:
        said.append(f"leakage: {result['leakage']['held_out_images']} held-out images have a duplicate in training")
    if "duplicates" in kinds and result["exact_duplicates"] + result["near_duplicates"]:
        said.append(f"duplicates: {result['exact_duplicates']} exact and {result['near_duplicates']} near pairs")
    if "unreadable" in kinds and result["unreadable"]:
        said.append(f"unreadable: {len(result['unreadable'])} files")
    return said
