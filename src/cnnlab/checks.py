"""Range and choice checks for config values: each failure is a ConfigError naming the option and what it takes.

Configs call these in __post_init__, so a bad value is refused when the config is built: before any data is
read or any folder is made.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import fields
from typing import TypeVar

from cnnlab.errors import CnnlabError, ConfigError, RunFolderError
from cnnlab.options import said
from cnnlab.registry import unknown_name_message


def option(field: str) -> str:
    """The option as the caller writes it: --freeze-epochs in a shell, freeze_epochs from Python."""
    return said(field)


def check_number(field: str, value, *, low: float | None = None, high: float | None = None, low_open: bool = False,
                 high_open: bool = False, integer: bool = False, optional: bool = False) -> None:
    """`value` is a finite number in the range (None too when optional); ints only when `integer`."""
    if value is None and optional:
        return
    kind = "a whole number" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        raise ConfigError(f"{option(field)} must be {kind}, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"{option(field)} must be finite, got {value!r}")
    bad_low = low is not None and (value <= low if low_open else value < low)
    bad_high = high is not None and (value >= high if high_open else value > high)
    if bad_low or bad_high:
        left = "" if low is None else f"{'>' if low_open else '>='} {_plain(low)}"
        right = "" if high is None else f"{'<' if high_open else '<='} {_plain(high)}"
        raise ConfigError(f"{option(field)} must be {' and '.join(p for p in (left, right) if p)}, got {value!r}")


def _plain(bound: float) -> str:
    """4294967295 rather than 4.29497e+09; 0.5 rather than 0.500000."""
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


def check_choice(field: str, value, choices: Iterable) -> None:
    choices = list(choices)
    if value not in choices:
        raise ConfigError(unknown_name_message(f"{option(field)} value", str(value), [str(c) for c in choices]))


T = TypeVar("T")
DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d{1,2})?")


def check_device(value: str) -> None:
    if not isinstance(value, str) or not DEVICE.fullmatch(value):
        raise ConfigError(f"{said('device')} must be auto, cpu, cuda, cuda:N or mps, got {value!r}")


def settings(d: dict, task: str) -> dict:
    """A config.json's settings without the task and version it names; RunFolderError when it names another
    task (configs written before they named it are taken as they are)."""
    named = d.get("task", task)
    if named != task:
        raise RunFolderError(f"this is a {named} run, not a {task} run (its config.json says so); pass a folder "
                             f"of runs/{task}/")
    return {k: v for k, v in d.items() if k not in ("task", "cnnlab")}


def config_from_dict(build: Callable[[dict], T], d: object, task: str) -> T:
    """build(d) for a config.json's contents; a file of the wrong shape (another task's, or edited by hand)
    is a RunFolderError that says so, not a TypeError."""
    if not isinstance(d, dict):
        raise RunFolderError(f"config.json is not a {task} run's config (it holds {type(d).__name__}, not an object)")
    try:
        return build(settings(d, task))
    except ConfigError as exc:
        raise RunFolderError(f"config.json holds a value a {task} run does not take: {exc}") from exc
    except (TypeError, KeyError, ValueError, AttributeError) as exc:
        raise RunFolderError(f"config.json is not a {task} run's config ({type(exc).__name__}: {exc}); pass a run "
                             f"folder of runs/{task}/") from exc


def config_with_augment(cls: type[T], d: object, required: tuple[str, ...], augment_cls: type, task: str) -> T:
    """cls(**d) for a config.json of a run of `task` whose `augment` field is an `augment_cls`; RunFolderError
    naming the unknown and missing keys when it is another task's, and a bad value when it was edited."""
    if not isinstance(d, dict):
        raise RunFolderError(f"config.json holds a {type(d).__name__}, not a {task} run's settings")
    d = settings(d, task)
    unknown = sorted(set(d) - {f.name for f in fields(cls)})
    missing = [k for k in required if k not in d]
    if unknown or missing:
        said = "; ".join(p for p in (f"unknown keys {', '.join(unknown[:5])}" if unknown else "",
                                     f"no {', '.join(missing)}" if missing else "") if p)
        raise RunFolderError(f"this is not a {task} run: its config.json has {said}; pass a folder of runs/{task}/")
    try:
        if not isinstance(d["augment"], dict):
            raise TypeError(f"augment is {d['augment']!r}")
        return cls(**{**d, "augment": augment_cls(**d["augment"])})
    except (TypeError, CnnlabError) as exc:
        raise RunFolderError(f"the config.json of this {task} run has a bad value ({exc}); it was edited or "
                             "damaged: train the run again") from None


def parse_hwc(text: str, field: str = "input") -> tuple[int, int, int]:
    """'150x100x3' -> (150, 100, 3): height x width x channels, as the lecture writes a 150x100 RGB image; the one
    way every command (explain layer, models summary) reads an input shape."""
    parts = str(text).lower().replace(" ", "").split("x")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) == 2:
        values = (*values, 1)  # HxW: one channel
    if len(values) != 3 or min(values) < 1 or max(values) > 1_000_000:
        raise ConfigError(f"{option(field)} must be HEIGHTxWIDTHxCHANNELS with whole numbers from 1 to 1,000,000, "
                          f"such as 150x100x3 (a 150-high, 100-wide RGB image), got {text!r}")
    return values  # type: ignore[return-value]


def check_split(split: str | None, data: str | None, splits: tuple[str, ...]) -> None:
    """`evaluate`'s choice of what to judge: one of the run's `splits`, or other `data`, not both."""
    if split is not None and data is not None:
        raise ConfigError(f"{option('split')} judges one of the run's own splits and {option('data')} other data: "
                          "give one of them")
    if split is not None:
        check_choice("split", split, splits)
