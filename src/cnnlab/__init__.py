"""cnnlab: a convolutional-network vision lab (classify, search, generate, segment)."""

from cnnlab.errors import CnnlabError

__version__ = "0.1.0"
__all__ = ["CnnlabError", "__version__"]
