"""Retrieval metrics from ranked neighbour labels: Recall@k and mAP@R (Musgrave et al., "A Metric
Learning Reality Check", 2020)."""

from __future__ import annotations

import faiss
import numpy as np


def ranked_labels(query: np.ndarray, gallery: np.ndarray, gallery_labels: np.ndarray, k: int,
                  exclude_self: bool = False) -> np.ndarray:
    """Labels (Q, k) of each query's k nearest gallery vectors by inner product, exact (faiss flat).
    With `exclude_self` (query set = gallery set) each query's own row is left out."""
    index = faiss.IndexFlatIP(gallery.shape[1])
    index.add(np.ascontiguousarray(gallery, dtype=np.float32))
    _, ids = index.search(np.ascontiguousarray(query, dtype=np.float32), k + int(exclude_self))
    if exclude_self:
        own = np.arange(len(query))[:, None]
        keep = ids != own
        ids = np.stack([row[mask][:k] for row, mask in zip(ids, keep, strict=True)])
    return gallery_labels[ids]


def recall_at_k(ranked: np.ndarray, query_labels: np.ndarray, ks: tuple[int, ...] = (1, 5, 10)) -> dict[int, float]:
    """Fraction of queries with at least one same-class item among their first k neighbours."""
    hits = ranked == query_labels[:, None]  # (Q, K)
    return {k: float(hits[:, :k].any(1).mean()) for k in ks}


def map_at_r(ranked: np.ndarray, query_labels: np.ndarray, r_per_query: np.ndarray) -> float:
    """Mean over queries of (1/R) * sum_{i<=R} P@i * rel_i, where R is the number of gallery items of the
    query's class and `ranked` holds at least max(R) neighbours."""
    hits = ranked == query_labels[:, None]  # (Q, K)
    total = 0.0
    for row, r in zip(hits, r_per_query, strict=True):
        r = int(r)
        if r == 0:
            continue
        rel = row[:r]
        precision = np.cumsum(rel) / np.arange(1, r + 1)
        total += float((precision * rel).sum() / r)
    return total / max(len(hits), 1)


def retrieval_scores(query: np.ndarray, query_labels: np.ndarray, gallery: np.ndarray,
                     gallery_labels: np.ndarray, *, ks: tuple[int, ...] = (1, 5, 10),
                     exclude_self: bool = False, curve_to: int = 50) -> dict:
    """Recall@k for `ks`, mAP@R, and the Recall@k curve for k = 1..curve_to, from exact search."""
    counts = np.bincount(gallery_labels, minlength=int(max(gallery_labels.max(), query_labels.max())) + 1)
    r = counts[query_labels] - int(exclude_self)
    depth = int(min(max(r.max(), max(ks), curve_to), len(gallery) - int(exclude_self)))
    ranked = ranked_labels(query, gallery, gallery_labels, depth, exclude_self)
    curve = recall_at_k(ranked, query_labels, tuple(range(1, min(curve_to, depth) + 1)))
    return {**{f"recall@{k}": v for k, v in recall_at_k(ranked, query_labels, ks).items()},
            "map@r": map_at_r(ranked, query_labels, np.minimum(r, depth)), "curve": list(curve.values())}
