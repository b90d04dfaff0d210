"""Localize and detect objects: class + box heads on a backbone, a grid detector, box metrics."""


def train(**options):
    """Train a localizer from Python; returns the Run (summary, history, paths, .plot(), .load()).

    The keywords are `cnnlab localize train`'s options with underscores (see its --help), e.g.

        cnnlab.localize.train(data="oxford-pet:PATH", head="detect", image_size=224, finetune_epochs=20)

    They go through the command line's own parser, so the checks, defaults and messages are the same; an
    unknown keyword raises CnnlabError naming the options there are."""
    from cnnlab.pycall import run_command

    return run_command("localize", "train", options)
