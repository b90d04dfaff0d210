"""Files written whole or not at all: a fresh temporary file beside the target, renamed over it.

The temporary name is random and made exclusively (tempfile.mkstemp), so a link planted at a predictable name
cannot redirect the write elsewhere; the rename replaces a link at the target itself, never what it points to.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

_UMASK = os.umask(0o022)  # read once, at import (reading it means setting it), and put straight back
os.umask(_UMASK)


@contextlib.contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """A new empty file beside `path` with the same suffix (writers that infer the format from it keep working);
    it replaces `path` when the block ends without error and is removed otherwise."""
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix or ".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes it private (0600); the result reads like any new file
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> None:
    with replacing(path) as tmp:
        tmp.write_text(text)
