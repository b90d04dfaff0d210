"""The consoles every command prints through (rich, no markup: paths with [ ] are text): `console` for what a
person reads, `err_console` for notes when stdout carries JSON for a program."""

import logging

from rich.console import Console

console = Console(highlight=False, emoji=False, markup=False)
err_console = Console(highlight=False, emoji=False, markup=False, stderr=True)  # notes beside output meant for programs

log = logging.getLogger("cnnlab")  # a library user routes cnnlab's notes with logging's own handlers


def notice(message: str) -> None:
    """A one-line note for the person at the terminal (stderr, so stdout stays a program's), also logged."""
    err_console.print(message, style="yellow")
    log.warning(message)
