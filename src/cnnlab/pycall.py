"""`cnnlab.TASK.train(**options)`: a run trained from Python with keywords named like the command's options.

    cnnlab.classify.train(data="fashion-mnist", model="resnet34", epochs=3, augment="hflip,rotation=10")
    # trains what `cnnlab classify train --data fashion-mnist --model resnet34 --epochs 3 --augment ...` trains

The keywords are checked against the command's declared options (`cnnlab.options.Options.from_python`) and
go to the room's own function from options to a run (`cnnlab.TASK.options.train`), the one the command line
calls too: the same checks, defaults and recipes, and messages that name keywords (`resume=True`), not flags.
An unknown keyword or a bad value raises CnnlabError naming it; the run comes back as a Run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import import_module
from typing import Any

from cnnlab.errors import CnnlabError
from cnnlab.options import Options
from cnnlab.session import Callback, session


def _the_run(made, interrupted: bool, where: str):
    """The Run a call's session made, or KeyboardInterrupt when Ctrl-C came before it had a finished epoch."""
    from cnnlab.runview import Run

    if not made.started:
        raise CnnlabError(f"{where} trained no run")
    if interrupted:
        made.discard_failed_starts()  # as the command line does: a run stopped before its first epoch goes
        if not (made.started[-1] / "config.json").is_file():
            raise KeyboardInterrupt
    return Run(made.started[-1], interrupted=interrupted)


def train(task: str, keywords: Mapping[str, Any], callbacks: Sequence[Callback] = ()):
    """Train the run of `cnnlab TASK train` with these keyword options and return its Run (interrupted runs too:
    Ctrl-C in a notebook stops training, keeps the checkpoint and returns the run, as the command line does).
    `callbacks(epoch, record)` are called after every epoch of the run, beside the engine's own."""
    where = f"cnnlab.{task}.train()"
    declared = import_module(f"cnnlab.{task}.cli").train  # the options' names, kinds and defaults
    room = import_module(f"cnnlab.{task}.options")
    with session(callbacks, python=True) as made:
        opts = Options.from_python(declared, keywords, where)
        try:
            status = room.train(opts)
        except CnnlabError as exc:
            made.discard_failed_starts()
            message = str(exc)
            exc.args = (message if message.startswith(where) else f"{where}: {message}",)
            raise
        except BaseException:  # Ctrl-C before the first epoch, or a bug: nothing half-made stays behind
            made.discard_failed_starts()
            raise
    return _the_run(made, status == "interrupted", where)
