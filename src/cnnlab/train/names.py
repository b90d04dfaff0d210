"""Run names: one plain folder name inside --runs-dir/<task>/ (no torch here: the CLI imports it to start)."""

from __future__ import annotations

import re

from cnnlab.errors import ConfigError
from cnnlab.options import said

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=-]{0,127}")


def check_run_name(name: str | None) -> None:
    """A run name is one plain folder name inside --runs-dir: letters, digits, . _ - + =, no separators."""
    if name is not None and (not _NAME.fullmatch(name) or name in (".", "..")):
        raise ConfigError(f"{said('name')} must be a plain folder name (letters, digits, '.', '_', '-', at most 128 "
                          f"characters, starting with a letter or digit), got {name!r}; runs always go inside "
                          f"{said('runs_dir')}/<task>/")


def default_run_name(*parts: str) -> str:
    """A run name made from the model and data names, with anything not allowed in a name turned into '-'."""
    text = "-".join(p for p in parts if p)
    text = re.sub(r"[^A-Za-z0-9._+=-]+", "-", text).strip("-._") or "run"
    return text[:128]
