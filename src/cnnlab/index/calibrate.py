"""Scores a person can read: a neighbour's cosine similarity placed among the gallery's own nearest-neighbour
similarities. A raw cosine says little (an embedding may put everything within 0.99 of everything); "closer
than 87% of the gallery's images are to their nearest neighbour" says how close a match is in this gallery,
and a query whose best match is farther than almost every gallery image from its own nearest neighbour has
no close match."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE = 2000  # gallery images whose nearest neighbour is looked up once, when the index is opened
NO_CLOSE_MATCH = 0.05  # a best match below this share: "no close match"


@dataclass(frozen=True)
class Calibration:
    """The sorted similarities (ascending) of sampled gallery images to their nearest other gallery image."""

    nearest: np.ndarray

    def match(self, score: float) -> float:
        """The share (0..1) of gallery images whose nearest neighbour is no closer than `score`."""
        return float(np.searchsorted(self.nearest, score, side="right") / len(self.nearest))

    def verdict(self, best: float) -> str:
        """'no close match' when the best neighbour's match is below NO_CLOSE_MATCH, else 'match'."""
        return "no close match" if self.match(best) < NO_CLOSE_MATCH else "match"


def calibrate(index, sample: int = SAMPLE, seed: int = 0) -> Calibration | None:
    """The calibration of an EmbeddingIndex from up to `sample` of its vectors, or None for a gallery under 3
    images or an index that cannot give its vectors back."""
    n = len(index)
    if n < 3:
        return None
    ids = np.sort(np.random.default_rng(seed).choice(n, min(n, sample), replace=False))
    if index.kind == "ivf":
        import faiss

        faiss.extract_index_ivf(index.index).make_direct_map()  # in memory only: IVF lists give vectors back
    try:
        vectors = index.index.reconstruct_batch(ids)  # (S, dim)
    except RuntimeError:  # an index kind that cannot give its vectors back
        return None
    scores, found = index.search(vectors, 2)  # (S, 2): itself (or a duplicate) first, then its neighbour
    nearest = np.where(found[:, 0] == ids, scores[:, 1], scores[:, 0])
    return Calibration(np.sort(nearest.astype(np.float64)))
