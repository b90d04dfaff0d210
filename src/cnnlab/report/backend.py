"""Matplotlib's backend for our figures: Agg (files only, no window, no display needed), except inside a Jupyter
kernel, whose own inline backend is the user's choice and is left alone (our figures are closed once saved, so
they never show there)."""

from __future__ import annotations

import sys


def use_file_backend() -> None:
    import matplotlib

    if "ipykernel" in sys.modules:
        return
    matplotlib.use("Agg")
