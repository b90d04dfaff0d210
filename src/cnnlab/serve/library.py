"""The index a service answers from: one snapshot at a time, replaced whole when a change is saved.

A request takes the current Snapshot once and works with it to the end, so a search that runs while images
are added or removed sees the old index or the new one, never a mix. The model (and the search behind it)
is used by one thread at a time: queries and the embedding of new images take turns, one batch each.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path, PurePath

import numpy as np
import torch

from cnnlab.index.calibrate import Calibration, calibrate
from cnnlab.index.core import EmbeddingIndex, Neighbour
from cnnlab.index.filtered import filtered_neighbours, vectors_of
from cnnlab.index.search import Searcher

RECALIBRATE_SHARE = 0.1  # the match calibration is made again once the gallery has grown or shrunk by this share


@dataclass(frozen=True)
class Snapshot:
    index: EmbeddingIndex
    shown: list[str | None]  # each row's source as visitors see it
    calibration: Calibration | None
    calibrated_count: int  # gallery size when the calibration was made


class Library:
    """An index folder opened with its model, answering queries from its current snapshot."""

    def __init__(self, folder: str | Path, *, device: str = "auto") -> None:
        searcher = Searcher(folder, device=device)
        self.folder, self.embedder, self.query_size = Path(folder), searcher.embedder, searcher.query_size
        self.model_lock = threading.Lock()
        index = searcher.index
        if len(index) and index.kind == "ivf":
            vectors_of(index, np.zeros(1, np.int64))  # IVF's direct map, made now rather than during a search
        self.snapshot = Snapshot(index, public_sources(index.paths), searcher.calibration, len(index))

    def embed(self, images: list[torch.Tensor]) -> np.ndarray:
        """uint8 images (C, H, W) of any size -> vectors (N, dim), through the model in one batch."""
        batch = torch.stack([self.embedder.fit_images(x.unsqueeze(0))[0] for x in images])  # (N, C, S, S)
        with self.model_lock:
            return np.ascontiguousarray(self.embedder.embed_images(batch))

    def search(self, snapshot: Snapshot, image: torch.Tensor, k: int, *, label: str | None = None,
               dedupe: bool = False) -> list[Neighbour]:
        """Up to k neighbours of one query image in `snapshot`, with their match scores."""
        vector = self.embed([image])
        with self.model_lock:
            row = filtered_neighbours(snapshot.index, vector, k, label=label, dedupe=dedupe)
        if snapshot.calibration is not None:
            for n in row:
                n.match = snapshot.calibration.match(n.score)
        return row

    def verdict(self, snapshot: Snapshot, row: list[Neighbour]) -> str:
        """'match' or 'no close match' for a result row ('' without a calibration)."""
        return snapshot.calibration.verdict(row[0].score) if snapshot.calibration is not None and row else ""

    def publish(self, index: EmbeddingIndex) -> None:
        """Answer from `index` from now on (saved already). Its calibration is the old one unless the gallery
        has changed size by RECALIBRATE_SHARE since that was made (or had none)."""
        old = self.snapshot
        calibration, count = old.calibration, old.calibrated_count
        if calibration is None or abs(len(index) - count) >= RECALIBRATE_SHARE * max(count, 1):
            calibration, count = calibrate(index), len(index)  # also gives an IVF index its direct map
        elif len(index) and index.kind == "ivf":
            vectors_of(index, np.zeros(1, np.int64))
        self.snapshot = Snapshot(index, public_sources(index.paths), calibration, count)


def public_sources(paths: list[str | None]) -> list[str | None]:
    """Each gallery source as a visitor may see it: a file relative to the folder the gallery's files share
    (its name alone when they share none but the root); dataset sources (NAME:SPLIT:I) and uploads
    (upload:NAME) as they are."""
    is_file = [p is not None and ("/" in p or "\\" in p) for p in paths]
    files_ = sorted({p for p, f in zip(paths, is_file, strict=True) if f})
    try:
        root = PurePath(os.path.commonpath(files_)) if files_ else None
    except ValueError:  # absolute and relative, or two drives
        root = None
    if root is not None and len(files_) == 1:
        root = root.parent
    if root is not None and root == PurePath(root.anchor):
        root = None

    def shown(path: str) -> str:
        if root is None:
            return PurePath(path).name
        relative = PurePath(path).relative_to(root).as_posix()
        return PurePath(path).name if relative.startswith("..") or relative == "." else relative

    return [shown(p) if f else p for p, f in zip(paths, is_file, strict=True)]
