"""Searches with options: neighbours of one class only, and near-identical results dropped.

The class filter is passed to faiss as the rows to search among (an exact index then ranks that class
exactly; HNSW and IVF search it approximately, as they do the whole gallery). De-duplication fetches more
neighbours than asked for, keeps a result only when it is less similar than DEDUPE_COSINE to every
better-ranked result kept, and fetches more again until k remain or the gallery is spent.
"""

from __future__ import annotations

import faiss
import numpy as np

from cnnlab.errors import ConfigError
from cnnlab.index.core import EmbeddingIndex, Neighbour

DEDUPE_COSINE = 0.995  # a result at least this similar (cosine) to a better-ranked one kept is a near-duplicate
FETCH_GROWTH = 4  # each further fetch asks for this many times more neighbours


def label_rows(index: EmbeddingIndex, label: str) -> np.ndarray:
    """The rows of the items of class `label`; ConfigError for a class the index does not know."""
    if label not in index.classes:
        shown = ", ".join(index.classes[:20]) + (", ..." if len(index.classes) > 20 else "")
        raise ConfigError(f"the index has no class {label!r}; its classes: {shown or 'none (no labels)'}")
    return np.flatnonzero(index.labels == index.classes.index(label))


def filtered_neighbours(index: EmbeddingIndex, vector: np.ndarray, k: int, *, label: str | None = None,
                        dedupe: bool = False) -> list[Neighbour]:
    """Up to k neighbours, best first, of one query vector (1, dim): of class `label` only when given, and
    without near-duplicates of better-ranked results when `dedupe`. Fewer than k when the class (or the
    gallery, once near-duplicates are dropped) holds fewer."""
    rows = label_rows(index, label) if label is not None else None
    pool = len(index) if rows is None else len(rows)
    if pool == 0 or k < 1:
        return []
    fetch = min(pool, 2 * k + 8 if dedupe else k)
    while True:
        scores, found = index.search(vector, fetch, rows=rows)  # (1, fetch)
        hits = [(float(s), int(r)) for s, r in zip(scores[0], found[0], strict=True) if r >= 0]
        if dedupe:
            hits = without_near_duplicates(index, hits)
        if len(hits) >= k or fetch == pool:
            return [index.item(r, s) for s, r in hits[:k]]
        fetch = min(pool, fetch * FETCH_GROWTH)


def without_near_duplicates(index: EmbeddingIndex, hits: list[tuple[float, int]],
                            threshold: float = DEDUPE_COSINE) -> list[tuple[float, int]]:
    """(score, row) hits, best first, without those at least `threshold` similar to a better-ranked kept one."""
    if len(hits) < 2:
        return hits
    vectors = vectors_of(index, np.array([r for _, r in hits], np.int64))  # (H, dim), unit length
    kept: list[int] = []
    for j in range(len(hits)):
        if not kept or float(np.max(vectors[kept] @ vectors[j])) < threshold:
            kept.append(j)
    return [hits[j] for j in kept]


def vectors_of(index: EmbeddingIndex, rows: np.ndarray) -> np.ndarray:
    """The stored vectors (R, dim) of `rows`. An IVF index gets its direct map (in memory) the first time."""
    if index.kind == "ivf":
        ivf = faiss.extract_index_ivf(index.index)
        if ivf.direct_map.type == faiss.DirectMap.NoMap:
            ivf.make_direct_map()
    return index.index.reconstruct_batch(rows)
