"""The consoles every command prints through (rich, no markup: paths with [ ] are text): `console` for what a
person reads, `err_console` for notes when stdout carries JSON for a program."""

from rich.console import Console

console = Console(highlight=False, emoji=False, markup=False)
err_console = Console(highlight=False, emoji=False, markup=False, stderr=True)  # notes beside output meant for programs
