"""Localize and detect objects: class + box heads on a backbone, a grid detector, box metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for type checkers and editors: `import cnnlab` stays light
    from cnnlab.runview import Run


def train(*, callbacks=(), **options) -> Run:
    """Train a localizer from Python; returns the Run (summary, history, paths, .plot(), .load()).

    The keywords are `cnnlab localize train`'s options with underscores (see its --help), e.g.

        cnnlab.localize.train(data="oxford-pet:PATH", head="detect", image_size=224, finetune_epochs=20)

    They go to the same function from options to a run as the command's (cnnlab.localize.options.train), so the
    checks, defaults and recipes are the same, and messages name keywords (resume=True), not flags; an unknown
    keyword raises CnnlabError naming the options there are. `callbacks` are functions called as
    callback(epochs_done, record) after every epoch (1 after the first; the record as in metrics.jsonl): log
    to MLflow or W&B from there (the README's Python section shows one)."""
    from cnnlab.pycall import train as train_from_python

    return train_from_python("localize", options, callbacks)
