"""What one command, or one call from Python, has started: passed down by a context, not kept in module globals.

    with session(callbacks=[my_logger]) as s:
        cnnlab's command or function runs here
    s.started        # the run folders it opened to train in, in order
    s.discard_failed_starts()   # after an error: remove the folders it made that never finished an epoch

`cnnlab` (the command line) opens one session per command; `cnnlab.TASK.train(...)` one per call, with the
callbacks it was given, which every epoch of every run trained inside it then reaches (`callback(epochs_done,
record)`, 1 after the first epoch, the record as in metrics.jsonl). Outside any session nothing is recorded and
no callback is added: code that calls a room's training function directly passes its callbacks there. Light on purpose
(no torch): the command line imports it before any task.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Callback = Callable[[int, dict], None]


@dataclass
class Session:
    """The run folders one command made (removed again if its start fails), those it opened to train in, and the
    callbacks its engines add to their own."""

    callbacks: tuple[Callback, ...] = ()
    python: bool = False  # options came as keywords from Python (messages name them so), not from a shell
    fresh: list[Any] = field(default_factory=list)  # RunDir objects (train.run) made that may still be empty
    started: list[Path] = field(default_factory=list)

    def discard_failed_starts(self) -> None:
        """Remove the run folders made in this session that never finished an epoch (a start that failed on bad
        data or an option), so that they do not block the next try; their locks and empty parents go too."""
        while self.fresh:
            self.fresh.pop().discard_if_unfinished()


_CURRENT: ContextVar[Session | None] = ContextVar("cnnlab_session", default=None)


def current() -> Session | None:
    """The session this code runs in, None outside one."""
    return _CURRENT.get()


@contextlib.contextmanager
def session(callbacks: Sequence[Callback] = (), *, python: bool = False) -> Iterator[Session]:
    """A new session for the code inside the block (nested sessions each record their own); `python`: its options
    came as keywords from Python."""
    for callback in callbacks:
        if not callable(callback):
            from cnnlab.errors import ConfigError

            raise ConfigError(f"callbacks must be callables taking (epoch, record), got {callback!r}")
    opened = Session(tuple(callbacks), python)
    token = _CURRENT.set(opened)
    try:
        yield opened
    finally:
        _CURRENT.reset(token)
