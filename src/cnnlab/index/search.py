"""Build, extend and query an index folder with the embedder it was built with."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cnnlab.errors import ConfigError, IndexFolderError
from cnnlab.index.calibrate import calibrate
from cnnlab.index.core import KINDS, EmbeddingIndex, Neighbour, describe_embedder
from cnnlab.index.embedders import Embedder, embedder_for, embedder_from_reference
from cnnlab.index.folder import has_index
from cnnlab.index.gallery import SPLITS, Gallery, decode_image, load_gallery

GALLERY_MIN_SIZE = 64  # folder images are read at least this large, for thumbnails
MAX_READ_SIZE = 4096  # the largest side images are read at (an index folder's read_size is held to it too)


@dataclass
class BuildReport:
    index: EmbeddingIndex
    added: int
    skipped: list[tuple[str, str]]
    seconds: float


def drop_indexed(gallery: Gallery, indexed: set) -> Gallery:
    """The gallery without the images whose source the index holds already (listed as skipped): appending a
    folder twice does not put each image in the index twice."""
    keep = [i for i, source in enumerate(gallery.sources) if source not in indexed]
    if len(keep) == len(gallery.sources):
        return gallery
    if not keep:
        raise IndexFolderError(f"all {len(gallery.sources)} images are in the index already; nothing to append")
    dropped = [(source, "already in the index") for source in gallery.sources if source in indexed]
    return Gallery(gallery.images[keep], [gallery.labels[i] for i in keep], [gallery.sources[i] for i in keep],
                   gallery.skipped + dropped, gallery.classes)


def build_index(model: str, images: str, out: str | Path, *, data_dir: str | None = None, split: str = "all",
                kind: str = "auto", append: bool = False, image_size: int | None = None, device: str = "auto",
                progress: Callable[[int, int], None] | None = None) -> BuildReport:
    """Embed the images that `images` names with `model` (a similarity run folder, or 'pixels') and write
    them to the index folder `out`; with `append`, add them to the index already there."""
    start = time.perf_counter()
    check_index_options(kind=kind, split=split, image_size=image_size)
    out = Path(out)
    existing = None
    if append and has_index(out):
        existing = EmbeddingIndex.load(out)
    elif has_index(out):
        raise IndexFolderError(f"{out} already holds an index; pass --append to add to it or choose another --out")
    if model == "pixels":
        gallery = load_gallery(images, data_dir=data_dir, split=split, image_size=image_size)
        embedder: Embedder = embedder_for("pixels", channels=gallery.images.shape[1],
                                          image_size=image_size or gallery.images.shape[-1])
    else:
        embedder = embedder_for(model, device=device)
        size = image_size or max(embedder.image_size, GALLERY_MIN_SIZE)
        gallery = load_gallery(images, data_dir=data_dir, split=split, image_size=size)
    if existing is not None:
        check_same_embedder(existing, embedder)
        index = existing
        gallery = drop_indexed(gallery, set(existing.paths))
    else:
        index = EmbeddingIndex.create(embedder.dim, embedder.reference(), kind=kind, n_expected=len(gallery.images),
                                      read_size=int(gallery.images.shape[-1]))
    n = len(gallery.images)
    vectors = embedder.embed_images(gallery.images, progress=(lambda done: progress(done, n)) if progress else None)
    index.add(vectors, gallery.labels, gallery.sources, gallery.images, gallery.classes)
    index.save(out)
    return BuildReport(index, n, gallery.skipped, time.perf_counter() - start)


def check_index_options(*, kind: str = "auto", split: str = "all", image_size: int | None = None) -> None:
    """ConfigError for an index kind, split or read size out of its choices, before anything is read."""
    if kind not in KINDS:
        raise ConfigError(f"--kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if split not in SPLITS:
        raise ConfigError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    if image_size is not None and not 1 <= image_size <= MAX_READ_SIZE:
        raise ConfigError(f"--image-size must be between 1 and {MAX_READ_SIZE}, got {image_size}")


def check_same_embedder(index: EmbeddingIndex, embedder: Embedder) -> None:
    if index.embedder != embedder.reference():
        raise IndexFolderError(f"the index was built with {describe_embedder(index.embedder)}, not with "
                               f"{describe_embedder(embedder.reference())}; query and extend it with the same "
                               "model, or build a new index")


class Searcher:
    """An index with its embedder, ready for queries from files or uploaded bytes."""

    def __init__(self, folder: str | Path, *, device: str = "auto", model: str | None = None) -> None:
        self.folder = Path(folder)
        self.index = EmbeddingIndex.load(self.folder)
        self.embedder = embedder_from_reference(self.index.embedder, device)
        self.calibration = calibrate(self.index)
        if model is not None:  # a model named by the user must be the one the index was built with
            given = embedder_for(model, channels=self.embedder.channels, image_size=self.embedder.image_size,
                                 device=device)
            check_same_embedder(self.index, given)

    @property
    def query_size(self) -> int:
        """Side at which query images are read: the gallery's, so a query goes through exactly the steps
        (crop, resize) its gallery twin went through."""
        return self.index.read_size or max(self.embedder.image_size, GALLERY_MIN_SIZE)

    def read(self, source: bytes | Path) -> torch.Tensor:
        """uint8 (C, S, S) query image."""
        return decode_image(source, self.query_size)

    def search(self, images: list[torch.Tensor], k: int) -> list[list[Neighbour]]:
        if not 1 <= k <= len(self.index):
            raise IndexFolderError(f"k={k} but the gallery holds {len(self.index)} images; ask for 1 to "
                                   f"{len(self.index)}")
        batch = torch.stack([self.embedder.fit_images(x.unsqueeze(0))[0] for x in images])  # (Q, C, S, S)
        vectors = self.embedder.embed_images(batch)
        rows = self.index.neighbours(np.ascontiguousarray(vectors), k)
        if self.calibration is not None:
            for row in rows:
                for n in row:
                    n.match = self.calibration.match(n.score)
        return rows

    def verdict(self, row: list[Neighbour]) -> str:
        """'match', or 'no close match' when even the best neighbour is farther than almost every gallery image
        is from its own nearest neighbour ('' without a calibration)."""
        return self.calibration.verdict(row[0].score) if self.calibration is not None and row else ""
