"""Changes to an index made beside it: `edited` returns a new EmbeddingIndex without some items and with new
ones, leaving the index it started from untouched, so searches can go on with the old one until the new one
is saved (a new generation of the folder, cnnlab.index.folder) and put in its place.

Removal keeps the rows' order: an exact (flat) index drops the rows in place in its copy; HNSW and IVF
indexes are rebuilt from their stored vectors (an HNSW graph cannot drop nodes; IVF would keep row numbers
with gaps), which costs one pass over the index.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import faiss
import numpy as np
import torch

from cnnlab.index.core import EmbeddingIndex, kind_of, new_faiss_index
from cnnlab.index.thumbs import ThumbRows, fit_thumbs


@dataclass
class NewItems:
    """Items to add: vectors float32 (N, dim), unit length; a class name (or None) and a source per item;
    images uint8 (N, C, H, W), kept as thumbnails."""

    vectors: np.ndarray
    labels: list[str | None]
    sources: list[str]
    images: torch.Tensor

    def __post_init__(self) -> None:
        if not (len(self.vectors) == len(self.labels) == len(self.sources) == len(self.images)):
            raise ValueError("vectors, labels, sources and images must have the same length")


@dataclass
class Edit:
    index: EmbeddingIndex  # the new index, not saved yet
    added: list[int]  # ids given to the new items, in their order
    removed: list[int]  # ids removed
    missing: list[int]  # ids asked to be removed that the index did not hold


def edited(index: EmbeddingIndex, *, add: NewItems | None = None, remove: Iterable[int] = ()) -> Edit:
    """`index` without the items whose ids are in `remove` and with `add` appended under new ids (after the
    largest id ever given: a removed id is never given again). `index` is not changed; the new index shares
    nothing with it that either one changes later."""
    wanted = sorted({int(i) for i in remove})
    found = {i: index.row_of(i) for i in wanted}
    drop = np.array([r for r in found.values() if r is not None], np.int64)
    keep = np.setdiff1d(np.arange(len(index), dtype=np.int64), drop)  # sorted: rows keep their order
    vectors = without_rows(index.index, drop, keep)
    classes, labels = list(index.classes), index.labels[keep]
    paths, ids = [index.paths[r] for r in keep], index.ids[keep]
    next_id, added = index.next_id, []
    extra = np.zeros((0, *index.thumbs.shape[1:]), np.uint8)
    if add is not None and len(add.vectors):
        new_vectors = index.check_vectors(add.vectors)
        if not vectors.is_trained:
            vectors.train(new_vectors)
        vectors.add(new_vectors)
        for name in add.labels:
            if name is not None and name not in classes:
                classes.append(name)
        numbers = np.array([classes.index(n) if n is not None else -1 for n in add.labels], np.int64)
        labels, paths = np.concatenate([labels, numbers]), paths + list(add.sources)
        added = list(range(next_id, next_id + len(add.vectors)))
        ids, next_id = np.concatenate([ids, np.array(added, np.int64)]), next_id + len(added)
        extra = fit_thumbs(add.images, index.thumbs if len(keep) else extra)
    thumbs = ThumbRows(index.thumbs, keep, extra)
    new = index.with_parts(vectors, classes, labels, paths, thumbs, ids, next_id)
    return Edit(new, added, [i for i, r in found.items() if r is not None], [i for i, r in found.items() if r is None])


def without_rows(index: faiss.Index, drop: np.ndarray, keep: np.ndarray) -> faiss.Index:
    """A copy of a faiss index without rows `drop` (sorted `keep` are the others), the rest in their order."""
    if kind_of(index) == "flat":
        copy = faiss.clone_index(index)
        if len(drop):
            copy.remove_ids(drop)  # an exact index closes the gaps, keeping the order
        return copy
    if not len(drop):
        return faiss.clone_index(index)
    if kind_of(index) == "ivf":
        copy = faiss.clone_index(index)
        faiss.extract_index_ivf(copy).make_direct_map()  # so that its vectors can be read back
        kept = copy.reconstruct_batch(keep) if len(keep) else np.zeros((0, index.d), np.float32)  # (K, dim)
        copy.reset()  # keeps the trained coarse quantizer
        copy.add(kept)
        return copy
    kept = index.reconstruct_batch(keep) if len(keep) else np.zeros((0, index.d), np.float32)  # (K, dim)
    rebuilt = new_faiss_index("hnsw", index.d, len(keep))
    rebuilt.add(kept)
    return rebuilt
