"""What we look at after training: pair predictions, the two-class diagram, t-SNE, retrieval metrics."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from cnnlab.data.images import ImageData
from cnnlab.errors import DataError
from cnnlab.index.embedders import Embedder
from cnnlab.similarity.metrics import retrieval_scores
from cnnlab.similarity.model import SimilarityNet


@torch.no_grad()
def features(net: SimilarityNet, images: torch.Tensor, device: torch.device, batch_size: int = 256) -> torch.Tensor:
    """uint8 (N, C, H, W) -> backbone features (N, F) float32 on `device`."""
    net.eval()
    out = [net.features(images[i:i + batch_size].to(device).float().div_(255)).float()
           for i in range(0, len(images), batch_size)]
    return torch.cat(out)


@torch.no_grad()
def pair_scores(net: SimilarityNet, a: torch.Tensor, b: torch.Tensor, device: torch.device) -> np.ndarray:
    """Predicted similarity in [0, 1] of image pairs, uint8 (N, C, H, W) each."""
    fa, fb = features(net, a, device), features(net, b, device)
    return torch.sigmoid(net.logits_from_features(fa, fb).float()).cpu().numpy()


@torch.no_grad()
def two_class_scores(net: SimilarityNet, data: ImageData, refs: ImageData, class_a: int, class_b: int,
                     device: torch.device, n_refs: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Each image's mean predicted similarity to `n_refs` reference images of class a and of class b."""
    g = torch.Generator().manual_seed(seed)
    f = features(net, data.images, device)  # (N, F)
    scores = []
    for c in (class_a, class_b):
        idx = torch.nonzero(refs.labels == c).squeeze(1)
        if len(idx) == 0:
            raise DataError(f"no reference images of class {refs.classes[c]!r}")
        idx = idx[torch.randperm(len(idx), generator=g)[:n_refs]]
        fr = features(net, refs.images[idx], device)  # (R, F)
        pairs_a = f.repeat_interleave(len(fr), 0)  # (N*R, F)
        pairs_b = fr.repeat(len(f), 1)  # (N*R, F)
        s = torch.sigmoid(net.logits_from_features(pairs_a, pairs_b).float()).view(len(f), len(fr))
        scores.append(s.mean(1).cpu().numpy())
    return scores[0], scores[1]


def tsne_map(vectors: np.ndarray, seed: int = 0, perplexity: float = 30.0) -> tuple[np.ndarray, float]:
    """2-D t-SNE (scikit-learn, Barnes-Hut, PCA start) of (N, D) vectors, and the seconds it took."""
    from sklearn.manifold import TSNE

    start = time.perf_counter()
    perplexity = min(perplexity, max(2.0, (len(vectors) - 1) / 3))
    points = TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(vectors)
    return points, time.perf_counter() - start


def compare_embedders(embedders: dict[str, Embedder], gallery: ImageData, queries: ImageData,
                      ks: tuple[int, ...] = (1, 5, 10), progress: Callable[[str], Callable] | None = None
                      ) -> tuple[list[dict], dict[str, list[float]]]:
    """Recall@k and mAP@R of each embedder: `queries` (held-out images) searched among `gallery`.
    `progress(name)` gives a (done, total) callback for the images each embedder embeds."""
    rows, curves = [], {}
    g_labels, q_labels = gallery.labels.numpy(), queries.labels.numpy()
    total = len(gallery) + len(queries)
    for name, embedder in embedders.items():
        tick = progress(f"embedding for {name}") if progress is not None else None
        start = time.perf_counter()
        g = embedder.embed_images(gallery.images, progress=tick and (lambda done, t=tick: t(done, total)))
        q = embedder.embed_images(queries.images,
                                  progress=tick and (lambda done, t=tick: t(len(gallery) + done, total)))
        seconds = time.perf_counter() - start
        scores = retrieval_scores(q, q_labels, g, g_labels, ks=ks)
        curves[name] = scores.pop("curve")
        rows.append({"embedding": name, "dim": embedder.dim, **scores, "embed_seconds": round(seconds, 2)})
    return rows, curves
