"""cnnlab: a convolutional-network vision lab (classify, search, generate, segment, localize).

From Python: `cnnlab.classify.train(data="digits", epochs=5)` (and segment, localize, similarity, generate) returns
a Run; `cnnlab.open_run(PATH)` opens one; `cnnlab.load(RUN_OR_EXPORT).predict(images)` predicts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnnlab import classify, generate, localize, segment, similarity  # light: each is its train() until called
from cnnlab.errors import CnnlabError
from cnnlab.tasks import TASKS

if TYPE_CHECKING:  # for type checkers and editors only: `import cnnlab` stays light
    from os import PathLike

    from cnnlab.api import Predictor
    from cnnlab.runview import Run

__version__ = "0.4.0"
__all__ = ["TASKS", "CnnlabError", "__version__", "classify", "generate", "load", "localize", "open_run", "segment",
           "similarity"]


def load(path: str | PathLike, *, device: str = "auto") -> Predictor:
    """A trained model (a run folder, or a file `cnnlab export` wrote) with `.predict(images)`: see cnnlab.api.
    Imported on call, so `import cnnlab` stays light."""
    from cnnlab.api import load as load_model

    return load_model(path, device=device)


def open_run(path: str | PathLike) -> Run:
    """The Run of a run folder: summary, history, paths, .plot(), .load(); shown inline in Jupyter."""
    from cnnlab.runview import Run

    return Run(path)
