"""An index folder on disk, written so that a crash at any moment leaves the old index or the new one.

    FOLDER/meta.json        what the index holds, which generation is current, each part's size and digest
    FOLDER/gen-000002/      the parts: vectors.faiss, labels.npy, thumbs.npy, paths.json (and ids.npy)
    FOLDER/.cnnlab-lock     held while writing, so that two appends at once cannot lose one

A write puts a whole new generation beside the current one, then switches to it by replacing meta.json
(one atomic rename), then removes the generations it replaced. Before the rename readers see the old
index, after it the new one; a crash leaves at most an unused generation, cleared by the next write.
Format 1 folders (the parts beside meta.json) are still read; their first append moves them to a generation.
Format 3 is format 2 plus ids.npy, the item ids, written once they differ from the row numbers (after a
removal); an index whose ids are its row numbers is still written as format 2, which earlier cnnlab reads.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cnnlab.errors import IndexFolderError

FORMAT = 3  # the newest this cnnlab writes and reads
META = "meta.json"
PARTS = ("vectors.faiss", "labels.npy", "thumbs.npy", "paths.json")
IDS = "ids.npy"  # format 3 only
LOCK = ".cnnlab-lock"
GENERATION = re.compile(r"gen-(\d{6,12})")
UNHASHED = ("thumbs.npy",)  # memory-mapped and possibly large: checked by size and header, not digest
REBUILD = "rebuild it with `cnnlab similarity index RUN --data DATA --out FOLDER`"


@dataclass
class Stored:
    """The current state of a folder: its meta.json and where each part lies."""

    folder: Path
    meta: dict
    generation: str  # "" for a format 1 folder

    def path(self, part: str) -> Path:
        return self.folder / self.generation / part if self.generation else self.folder / part


def has_index(folder: Path) -> bool:
    return (folder / META).is_file()


def locate(folder: Path) -> Stored:
    """The folder's meta.json, checked for the fields every reader relies on."""
    if not folder.is_dir():
        raise IndexFolderError(f"index folder {folder} does not exist; build one with `cnnlab similarity index`")
    if not has_index(folder):
        raise IndexFolderError(f"{folder} is not an index folder (no meta.json); build one with "
                               "`cnnlab similarity index RUN --data DATA --out FOLDER`")
    try:
        meta = json.loads((folder / META).read_bytes())
    except (OSError, ValueError) as exc:
        raise IndexFolderError(f"{folder / META} is unreadable ({type(exc).__name__}: {exc}); {REBUILD}") from exc
    if not isinstance(meta, dict):
        raise IndexFolderError(f"{folder / META} is not an index description; {REBUILD}")
    version = meta.get("format")
    if version == 1:
        return Stored(folder, meta, "")
    if version not in (2, FORMAT):
        raise IndexFolderError(f"{folder} has index format {version!r}, this cnnlab reads 1 to {FORMAT}; "
                               f"{REBUILD}, or use the cnnlab that made it")
    generation, files = meta.get("generation"), meta.get("files")
    needed = (*PARTS, IDS) if version == FORMAT else PARTS
    if not isinstance(generation, str) or not GENERATION.fullmatch(generation) or not isinstance(files, dict) or any(
            not isinstance(files.get(p), dict) for p in needed):
        raise IndexFolderError(f"{folder / META} does not name a valid generation and its parts; {REBUILD}")
    return Stored(folder, meta, generation)


def read_part(stored: Stored, part: str) -> bytes:
    """The bytes of a part, checked against the size and digest that meta.json records (format 2)."""
    data = stored.path(part).read_bytes()
    check_size(stored, part, len(data))
    expected = stored.meta["files"][part].get("sha256") if stored.generation else None
    if expected is not None and hashlib.sha256(data).hexdigest() != expected:
        raise IndexFolderError(f"{stored.path(part)} is damaged (its digest differs from the one meta.json "
                               f"records); {REBUILD}")
    return data


def check_size(stored: Stored, part: str, size: int | None = None) -> None:
    if not stored.generation:
        return
    size = stored.path(part).stat().st_size if size is None else size
    expected = stored.meta["files"][part].get("bytes")
    if size != expected:
        raise IndexFolderError(f"{stored.path(part)} is damaged: {size:,} bytes where meta.json records "
                               f"{expected}; {REBUILD}")


def write_generation(folder: Path, parts: dict[str, Callable[[BinaryIO], None]], meta: dict, *,
                     expect: str | None = None) -> str:
    """Write `parts` (name -> writer of its bytes) as a new generation and switch meta.json to it: format 3
    when the parts hold ids.npy, else format 2.

    `expect`: the generation the caller loaded (appending), refused if another process has switched the
    folder since; None: replace whatever is there. Returns the new generation's name."""
    folder.mkdir(parents=True, exist_ok=True)
    with _write_lock(folder):
        if expect is not None:
            current = locate(folder).generation
            if current != expect:
                raise IndexFolderError(f"{folder} was changed by another process since it was read; run the "
                                       "command again")
        generation = _new_generation(folder)
        files = {name: _write_part(generation / name, writer) for name, writer in parts.items()}
        _sync_dir(generation)
        version = FORMAT if IDS in parts else 2
        meta = {**meta, "format": version, "generation": generation.name, "files": files}
        tmp = folder / f".{META}.tmp"
        _write_part(tmp, lambda f: f.write(json.dumps(meta, indent=2).encode()))
        _replace(tmp, folder / META)  # the switch: before it the old index, after it the new one
        _sync_dir(folder)
        remove_stale(folder, keep=generation.name)
    return generation.name


def remove_stale(folder: Path, keep: str) -> None:
    """Remove the parts of every generation but `keep` (and of a format 1 layout), then their emptied
    folders. Only names cnnlab writes are removed; a folder holding anything else is left."""
    for entry in folder.iterdir():
        if entry.name != keep and GENERATION.fullmatch(entry.name) and entry.is_dir() and not entry.is_symlink():
            for name in (*PARTS, IDS):
                _remove(entry / name)
            _remove(entry)  # left where it holds something else
    for name in PARTS:  # a format 1 folder's parts, now copied into a generation
        _remove(folder / name)
        _remove(folder / f".{name}.tmp")


@contextmanager
def _write_lock(folder: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # no advisory locks here (Windows): concurrent appends are the user's to avoid
        yield
        return
    with open(folder / LOCK, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexFolderError(f"another cnnlab process is writing to {folder}; wait for it to finish and "
                                   "run the command again") from None
        yield  # the lock goes with the file handle, also when the process dies


def _new_generation(folder: Path) -> Path:
    numbers = [int(m.group(1)) for p in folder.iterdir() if (m := GENERATION.fullmatch(p.name))]
    n = max(numbers, default=0) + 1
    while True:
        path = folder / f"gen-{n:06d}"
        try:
            _make_dir(path)
            return path
        except FileExistsError:
            n += 1


class _HashingWriter:
    """A write-only file object that counts and digests what goes through it."""

    def __init__(self, f: BinaryIO) -> None:
        self.f, self.size, self.digest = f, 0, hashlib.sha256()

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        self.digest.update(view)
        self.size += len(view)
        return self.f.write(view)


# The four steps that change the disk; the crash tests stop a write before each one of them.
def _make_dir(path: Path) -> None:
    path.mkdir()


def _write_part(path: Path, writer: Callable[[BinaryIO], None]) -> dict:
    """A new file at `path`: a stale temporary (or a link planted there) is removed first, and the file is made
    exclusively without following links, so a write never lands outside the index folder."""
    with suppress(FileNotFoundError):
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    with os.fdopen(fd, "wb") as f:
        hashing = _HashingWriter(f)
        writer(hashing)
        f.flush()
        os.fsync(f.fileno())
    return {"bytes": hashing.size, "sha256": hashing.digest.hexdigest()}


def _replace(src: Path, dst: Path) -> None:
    os.replace(src, dst)


def _remove(path: Path) -> None:
    """Remove a file or an empty folder; one that is missing, not empty or still open elsewhere (Windows)
    stays, for the next write to clear."""
    with suppress(OSError):
        if path.is_dir() and not path.is_symlink():
            path.rmdir()
        else:
            path.unlink()


def _sync_dir(path: Path) -> None:
    """Make the names in `path` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
