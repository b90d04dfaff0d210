"""cnnlab: a convolutional-network vision lab (classify, search, generate, segment)."""

from cnnlab.errors import CnnlabError

__version__ = "0.1.0"
__all__ = ["CnnlabError", "__version__", "load"]


def load(path, *, device: str = "auto"):
    """A trained model (a run folder, or a file `cnnlab export` wrote) with `.predict(images)`: see cnnlab.api.
    Imported on call, so `import cnnlab` stays light."""
    from cnnlab.api import load as load_model

    return load_model(path, device=device)
