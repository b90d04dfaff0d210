"""Image classification: train, evaluate, predict, compare, sweep."""


def train(**options):
    """Train a classifier from Python; returns the Run (summary, history, paths, .plot(), .load()).

    The keywords are `cnnlab classify train`'s options with underscores (see its --help), e.g.

        cnnlab.classify.train(data="fashion-mnist", model="resnet34", epochs=3, augment="hflip,rotation=10")

    They go through the command line's own parser, so the checks, defaults and messages are the same; an
    unknown keyword raises CnnlabError naming the options there are."""
    from cnnlab.pycall import run_command

    return run_command("classify", "train", options)
