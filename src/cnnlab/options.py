"""A command's options as one mapping, whether they were typed in a shell or passed from Python, and how a
message names one of them to the person who gave it.

    opts = Options.from_cli(ctx)                                   # `cnnlab classify train --epochs 3`
    opts = Options.from_python(cli.train, {"epochs": 3}, "cnnlab.classify.train()")
    cfg = cnnlab.classify.options.config(opts)                      # each room: one function, both doors

The options' names, defaults and kinds are declared once, by the typer command's signature; from Python they
are checked against it here (unknown names, values of the wrong kind, choices), never by running the parser.
A message names an option with `said("freeze_epochs")`: `--freeze-epochs` in a shell, `freeze_epochs` from
Python (the session says which). No torch here: the command line imports it before any task.
"""

from __future__ import annotations

import difflib
import inspect
import json
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from os import PathLike
from pathlib import Path
from typing import Any

from cnnlab.errors import CnnlabError
from cnnlab.session import current

NOT_OPTIONS = ("ctx", "train_options")  # parameters of a typer command that are not the user's options


def said(key: str, value: object = ...) -> str:
    """How the person who gave the options writes option `key` (with `value`): `--freeze-epochs`, `--resume`,
    `--no-rank`, `--epochs 3` in a shell; `freeze_epochs`, `resume=True`, `rank=False`, `epochs=3` from Python."""
    made = current()
    if made is not None and made.python:
        return key if value is ... else f"{key}={value!r}"
    flag = "--" + key.replace("_", "-")
    if value is ...:
        return flag
    if isinstance(value, bool):
        return flag if value else f"--no-{flag[2:]}"
    return f"{flag} {value}"


@dataclass(frozen=True)
class Options(Mapping):
    """Every option of one command by its field name (defaults filled in), and the names the caller gave."""

    values: Mapping[str, Any]
    given: frozenset[str] = field(default_factory=frozenset)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)

    @classmethod
    def from_cli(cls, ctx) -> Options:
        """The options of the command that typer is running (a click context), as plain values."""
        typed = ("COMMANDLINE", "ENVIRONMENT")
        given = {name for name in ctx.params if getattr(ctx.get_parameter_source(name), "name", None) in typed}
        return cls({k: _plain(v) for k, v in ctx.params.items()}, frozenset(given))

    @classmethod
    def from_python(cls, command: Callable, keywords: Mapping[str, Any], where: str) -> Options:
        """The options of `command` (a typer command function) given as keywords from Python: each checked
        against its declaration; None or absent: the option's default. CnnlabError naming the keyword."""
        declared = declarations(command)
        values, given = {}, set()
        for key, value in keywords.items():
            if key not in declared:
                near = difflib.get_close_matches(key, declared, n=1)
                hint = f"; did you mean {near[0]}?" if near else ""
                raise CnnlabError(f"{where} has no option {key!r}{hint} (its options: {', '.join(sorted(declared))})")
            if value is not None:
                values[key] = _checked(key, value, declared[key].kind, where)
                given.add(key)
        for key, declared_as in declared.items():
            if key not in values:
                if declared_as.required:
                    raise CnnlabError(f"{where} needs {key}=...")
                values[key] = declared_as.default
        return cls(values, frozenset(given))


@dataclass(frozen=True)
class Declared:
    """One option as its command declares it: the Python kind its value takes, its default."""

    kind: Any
    default: Any
    required: bool = False


def declarations(command: Callable) -> dict[str, Declared]:
    """The options of a typer command function, in its signature's order."""
    out = {}
    for name, param in inspect.signature(command, eval_str=True).parameters.items():
        if name in NOT_OPTIONS:
            continue
        info = param.default
        default = getattr(info, "default", info)
        required = default is ... or default is inspect.Parameter.empty
        out[name] = Declared(_kind(param.annotation), None if required else _plain(default), required)
    return out


def _kind(hint: Any) -> Any:
    """int, float, str, bool, an Enum class or list (of str) from an annotation such as Optional[int]."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    origin = typing.get_origin(hint)
    if origin is list:
        return list
    if args and origin is not None and len(args) == 1:  # Optional[X], X | None
        return _kind(args[0])
    return hint


def _plain(value: Any) -> Any:
    """An option's value as config code takes it: an Enum's value, lists for the repeatable options."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _text(key: str, value: object, where: str) -> str:
    if isinstance(value, PathLike):
        return str(Path(value))
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise CnnlabError(f"{where}: {key}={value!r} must be a string, number or path")
    return str(value)


def _number(key: str, value: object, kind: type, where: str) -> int | float:
    whole = kind is int
    shown = "a whole number" if whole else "a number"
    if isinstance(value, list | tuple):
        raise CnnlabError(f"{where}: {key} takes one value, got {value!r}")
    if isinstance(value, str):
        try:
            value = float(value) if not whole or "." in value or "e" in value.lower() else int(value)
        except ValueError:
            raise CnnlabError(f"{where}: {key} takes {shown}, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CnnlabError(f"{where}: {key} takes {shown}, got {value!r}")
    if whole:
        if isinstance(value, float) and not value.is_integer():
            raise CnnlabError(f"{where}: {key} takes a whole number, got {value!r}")
        return int(value)
    return float(value)


def _checked(key: str, value: object, kind: Any, where: str) -> Any:
    """`value` as option `key` of this kind takes it, or CnnlabError naming the keyword."""
    if kind is bool:
        if not isinstance(value, bool):
            raise CnnlabError(f"{where}: {key} is a yes/no option; pass True or False, not {value!r}")
        return value
    if kind in (int, float):
        return _number(key, value, kind, where)
    if isinstance(kind, type) and issubclass(kind, Enum):
        choices = [m.value for m in kind]
        if value not in choices:
            raise CnnlabError(f"{where}: {key} must be one of {', '.join(map(str, choices))}, got {value!r}")
        return value
    if kind is list:  # a repeatable option: one value or a list of them
        return [_text(key, v, where) for v in (value if isinstance(value, list | tuple) else [value])]
    if isinstance(value, list | tuple):  # augment=["hflip", "rotation=10"] -> "hflip,rotation=10"
        return ",".join(_text(key, v, where) for v in value)
    return _text(key, value, where)


def parse_model_args(items: list[str]) -> dict:
    """['kernel=5', 'filters=32,64'] -> {'kernel': 5, 'filters': [32, 64]}."""
    args = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise CnnlabError(f"{said('model_arg')} must be KEY=VALUE, got {item!r}")
        text = f"[{value}]" if "," in value and not value.startswith("[") else value
        try:
            args[key] = json.loads(text)
        except json.JSONDecodeError:
            args[key] = value
    return args
