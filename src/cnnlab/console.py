"""The one console every command prints through (rich, no markup: paths with [ ] are text)."""

from rich.console import Console

console = Console(highlight=False, emoji=False, markup=False)
