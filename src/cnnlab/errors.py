"""cnnlab's own exceptions. Each message says what went wrong and what to do next."""


class CnnlabError(Exception):
    """Base of every error cnnlab raises on purpose; the CLI prints it without a traceback."""


class UnknownNameError(CnnlabError, KeyError):
    """A model, dataset or option name that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DataError(CnnlabError):
    """Missing, malformed or unusable data."""


class ConfigError(CnnlabError):
    """An option or config value out of its range or choices; raised before any data is read or folder made."""


class ModelError(CnnlabError):
    """A model that cannot be built for the requested input."""


class RunFolderError(CnnlabError):
    """A run folder that exists, is missing, or is incomplete."""


class TrainingDiverged(CnnlabError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class IndexFolderError(CnnlabError):
    """A search index folder that is missing, corrupt, or does not fit the query (model, size, k)."""


class NotAnImageError(DataError):
    """Bytes or a file that no image decoder can read."""


class ImageTooLargeError(DataError):
    """An image whose pixel count is over the limit (for example a decompression bomb)."""
