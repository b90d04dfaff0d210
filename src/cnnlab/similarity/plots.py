"""The similarity task's figures: pairs with actual vs predicted similarity, the seed's two-class diagram,
t-SNE maps, retrieval curves and query montages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from cnnlab.report.plots import _save, plt


def to_hwc(images: torch.Tensor) -> np.ndarray:
    """uint8 (N, C, H, W) tensor -> (N, H, W, C) numpy."""
    return images.permute(0, 2, 3, 1).cpu().numpy()


def _show(ax, img: np.ndarray) -> None:
    """img (H, W, C) uint8 or float in [0, 1]."""
    gray = img.shape[-1] == 1
    ax.imshow(img[..., 0] if gray else img, cmap="gray" if gray else None, vmin=0, vmax=255 if img.dtype == np.uint8
              else 1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_pairs(a: np.ndarray, b: np.ndarray, actual: np.ndarray, path: Path, predicted: np.ndarray | None = None,
               names: list[tuple[str, str]] | None = None) -> Path:
    """Pairs as columns (a above b), titled with the actual similarity (1 same class, 0 not) and, when
    given, the predicted one. a, b: uint8 (N, H, W, C)."""
    n = len(a)
    fig, axes = plt.subplots(2, n, figsize=(1.4 * n, 3.2), squeeze=False)
    for i in range(n):
        _show(axes[0, i], a[i])
        _show(axes[1, i], b[i])
        title = f"actual {int(actual[i])}"
        if predicted is not None:
            title += f"\npred {predicted[i]:.0%}"
        right = predicted is None or (predicted[i] > 0.5) == bool(actual[i])
        axes[0, i].set_title(title, fontsize=8, color="black" if right else "red")
        if names:
            axes[0, i].set_xlabel(names[i][0], fontsize=7)
            axes[1, i].set_xlabel(names[i][1], fontsize=7)
    return _save(fig, path)


def plot_two_classes(score_a: np.ndarray, score_b: np.ndarray, labels: np.ndarray, classes: list[str],
                     class_a: str, class_b: str, path: Path) -> Path:
    """The seed's diagram: each test image's mean similarity to references of class A (x) and B (y),
    coloured by its true class."""
    fig, ax = plt.subplots(figsize=(7, 6))
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    for c, name in enumerate(classes):
        m = labels == c
        if m.any():
            ax.scatter(score_a[m], score_b[m], s=10, alpha=0.7, color=cmap(c % cmap.N), label=name)
    ax.set_xlabel(f"similarity to {class_a}")
    ax.set_ylabel(f"similarity to {class_b}")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, markerscale=2, loc="center left", bbox_to_anchor=(1, 0.5))
    return _save(fig, path)


def plot_tsne(points: np.ndarray, labels: np.ndarray, classes: list[str], path: Path, title: str = "",
              thumbs: np.ndarray | None = None) -> Path:
    """A 2-D map (N, 2) coloured by class; with `thumbs` (N, T, T, C) uint8, small images sit on it."""
    fig, ax = plt.subplots(figsize=(9, 8))
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    for c, name in enumerate(classes):
        m = labels == c
        if m.any():
            ax.scatter(points[m, 0], points[m, 1], s=6, alpha=0.8, color=cmap(c % cmap.N), label=name)
    if thumbs is not None:
        from matplotlib.offsetbox import AnnotationBbox, OffsetImage

        span = np.ptp(points, 0).max()
        shown: list[np.ndarray] = []
        for p, img in zip(points, thumbs, strict=True):  # skip thumbnails that would overlap
            if shown and np.min(np.linalg.norm(np.array(shown) - p, axis=1)) < 0.04 * span:
                continue
            shown.append(p)
            gray = img.shape[-1] == 1
            box = OffsetImage(img[..., 0] if gray else img, zoom=24 / img.shape[0], cmap="gray" if gray else None)
            ax.add_artist(AnnotationBbox(box, p, frameon=False))
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=7, markerscale=3, loc="center left", bbox_to_anchor=(1, 0.5))
    return _save(fig, path)


def plot_retrieval_curves(curves: dict[str, list[float]], path: Path) -> Path:
    """Recall@k against k for several embeddings."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, curve in curves.items():
        ax.plot(range(1, len(curve) + 1), curve, label=name)
    ax.set_xscale("log")
    ax.set_xlabel("k")
    ax.set_ylabel("Recall@k")
    ax.set_ylim(0, 1.01)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return _save(fig, path)


def save_montage(queries: list[np.ndarray], results: list[list[tuple[np.ndarray, str]]], path: Path,
                 query_names: list[str] | None = None) -> Path:
    """One row per query: the query image, then its neighbours captioned (e.g. label and score).
    Images (H, W, C) uint8."""
    cols = 1 + max(len(r) for r in results)
    fig, axes = plt.subplots(len(queries), cols, figsize=(1.4 * cols, 1.6 * len(queries)), squeeze=False)
    for r, (query, row) in enumerate(zip(queries, results, strict=True)):
        for ax in axes[r]:
            ax.axis("off")
        _show(axes[r, 0], query)
        axes[r, 0].axis("on")
        axes[r, 0].set_title(query_names[r] if query_names else "query", fontsize=7, color="blue")
        for c, (img, caption) in enumerate(row, start=1):
            _show(axes[r, c], img)
            axes[r, c].axis("on")
            axes[r, c].set_title(caption, fontsize=7)
    return _save(fig, path)
