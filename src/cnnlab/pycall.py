"""Run a task's command from Python with keyword arguments named like its options:

    cnnlab.classify.train(data="fashion-mnist", model="resnet34", epochs=3, augment="hflip,rotation=10")
    # is `cnnlab classify train --data fashion-mnist --model resnet34 --epochs 3 --augment hflip,rotation=10`

The keywords go through the command's own parser, so the checks, defaults and recipes are the command line's,
to the letter. An unknown keyword or a bad value raises CnnlabError naming it; the run comes back as a Run."""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

from cnnlab.cliutil import error_kinds
from cnnlab.errors import CnnlabError
from cnnlab.session import Callback, session


def _command(task: str, name: str):
    """The parser's object of `cnnlab TASK NAME` (a click command inside typer)."""
    from importlib import import_module

    import typer.main

    group = typer.main.get_command(import_module(f"cnnlab.{task}.cli").app)
    return group, group.commands[name]


def _text(value: object, key: str, where: str) -> str:
    if isinstance(value, PathLike):
        return str(Path(value))
    if isinstance(value, bool):
        raise CnnlabError(f"{where}: {key}={value!r} takes a value, not True/False")
    if isinstance(value, list | tuple):  # augment=["hflip", "rotation=10"] -> "hflip,rotation=10"
        return ",".join(_text(v, key, where) for v in value)
    if isinstance(value, str | int | float):
        return str(value)
    raise CnnlabError(f"{where}: {key}={value!r} must be a string, number, path or list of them")


def _kind(param) -> type | None:
    """The Python type an option's value is parsed to (int, float, str, an Enum...), None if unknown; typer keeps
    it on the parameter (newer versions) or click on its type (older ones)."""
    hint = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    if hint is not None:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else hint
    return {"integer": int, "float": float, "text": str}.get(getattr(getattr(param, "type", None), "name", ""))


def _option_args(param, key: str, value: object, where: str) -> list[str]:
    flag = param.opts[0]
    if getattr(param, "is_flag", False):
        if not isinstance(value, bool):
            raise CnnlabError(f"{where}: {key} is a yes/no option; pass True or False, not {value!r}")
        return [flag] if value else list(param.secondary_opts[:1])
    if param.multiple:
        return [part for v in (value if isinstance(value, list | tuple) else [value])
                for part in (flag, _text(v, key, where))]
    kind = _kind(param)
    if isinstance(value, list | tuple) and kind is not str:
        raise CnnlabError(f"{where}: {key} takes one value, got {value!r}")
    if kind is int and isinstance(value, float) and not value.is_integer():
        raise CnnlabError(f"{where}: {key} takes a whole number, got {value!r}")
    return [flag, _text(value, key, where)]


def command_line(command, options: dict, where: str) -> list[str]:
    """The argument list that gives `command` these keyword options (None: the option's default)."""
    params = {p.name: p for p in command.params if p.name}
    public = sorted(n for n, p in params.items() if getattr(p, "param_type_name", "") in ("option", "argument")
                    and n not in ("help",))
    args: list[str] = []
    positional: list[str] = []
    for key, value in options.items():
        param = params.get(key)
        if param is None or key not in public:
            near = difflib.get_close_matches(key, public, n=1)
            hint = f"; did you mean {near[0]}?" if near else ""
            raise CnnlabError(f"{where} has no option {key!r}{hint} (its options: {', '.join(public)})")
        if value is None:
            continue
        if param.param_type_name == "argument":
            values = value if isinstance(value, list | tuple) and param.nargs != 1 else [value]
            positional.extend(_text(v, key, where) for v in values)
            continue
        args += _option_args(param, key, value, where)
    return args + (["--", *positional] if positional else [])


def in_keywords(message: str, command) -> str:
    """A message that names the command's options (--runs-dir, --resume) in keyword form (runs_dir=...,
    resume=True), as a Python caller writes them."""
    flags, names = {}, {}  # --flag -> "name=True" (or "name=..."), and -> "name"
    for p in command.params:
        for opt in getattr(p, "opts", []):
            flags[opt], names[opt] = (f"{p.name}=True" if getattr(p, "is_flag", False) else f"{p.name}=..."), p.name
        for opt in getattr(p, "secondary_opts", []):
            flags[opt], names[opt] = f"{p.name}=False", p.name
    message = re.sub(r"'(--[a-z][a-z0-9-]*)'", lambda m: f"'{names.get(m.group(1), m.group(1))}'", message)
    return re.sub(r"--[a-z][a-z0-9-]*", lambda m: flags.get(m.group(0), m.group(0)), message)


def _the_run(made, interrupted: bool, where: str):
    """The Run a call's session made, or KeyboardInterrupt when Ctrl-C came before it had a finished epoch."""
    from cnnlab.runview import Run

    if not made.started:
        if interrupted:  # Ctrl-C before the run folder was made
            raise KeyboardInterrupt
        raise CnnlabError(f"{where} trained no run")
    if interrupted:
        made.discard_failed_starts()  # as the command line does: a run stopped before its first epoch goes
        if not (made.started[-1] / "config.json").is_file():
            raise KeyboardInterrupt
    return Run(made.started[-1], interrupted=interrupted)


def run_command(task: str, name: str, options: dict, callbacks: Sequence[Callback] = ()):
    """Run `cnnlab TASK NAME` with these keyword options and return the Run it trained (interrupted runs too:
    Ctrl-C in a notebook stops training, keeps the checkpoint and returns the run, as the command line does).
    `callbacks(epoch, record)` are called after every epoch of the run, beside the engine's own."""
    where = f"cnnlab.{task}.{name}()"
    group, command = _command(task, name)
    argv = command_line(command, options, where)
    with session(callbacks) as made:
        interrupted = _call(group, (f"cnnlab {task}", name, argv), command, made, where)
    return _the_run(made, interrupted, where)


def _call(group, line: tuple[str, str, list[str]], command, made, where: str) -> bool:
    """The command line (program, command, arguments) inside the call's session; True when it was interrupted
    with its checkpoint kept."""
    prog, name, argv = line
    try:
        group.main(args=[name, *argv], prog_name=prog, standalone_mode=False)
    except SystemExit as exc:
        if exc.code != 130:  # 130: interrupted, with its checkpoint kept
            made.discard_failed_starts()
            raise CnnlabError(f"{where} stopped (exit status {exc.code})") from None
        return True
    except CnnlabError as exc:
        made.discard_failed_starts()
        message = in_keywords(str(exc), command)
        exc.args = (message if message.startswith(where) else f"{where}: {message}",)
        raise
    except BaseException as exc:
        made.discard_failed_starts()
        kinds = error_kinds(exc)
        if "Abort" in kinds:  # the parser's name for Ctrl-C
            raise KeyboardInterrupt from None
        if "ClickException" in kinds or "UsageError" in kinds:
            message = exc.format_message().replace("Value error, ", "")
            raise CnnlabError(f"{where}: {in_keywords(message, command)}") from None
        raise
    return False
