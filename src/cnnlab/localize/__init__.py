"""Localize and detect objects: class + box heads on a backbone, a grid detector, box metrics."""


def train(*, callbacks=(), **options):
    """Train a localizer from Python; returns the Run (summary, history, paths, .plot(), .load()).

    The keywords are `cnnlab localize train`'s options with underscores (see its --help), e.g.

        cnnlab.localize.train(data="oxford-pet:PATH", head="detect", image_size=224, finetune_epochs=20)

    They go through the command line's own parser, so the checks, defaults and messages are the same; an
    unknown keyword raises CnnlabError naming the options there are. `callbacks` are functions called as
    callback(epochs_done, record) after every epoch (1 after the first; the record as in metrics.jsonl): log
    to MLflow or W&B from there (the README's Python section shows one)."""
    from cnnlab.pycall import run_command

    return run_command("localize", "train", options, callbacks)
