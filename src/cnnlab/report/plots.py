"""Matplotlib figures written as PNG: training curves, confusion matrices, comparisons, image grids."""

from __future__ import annotations

from pathlib import Path

from cnnlab.report.backend import use_file_backend

use_file_backend()
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_history(history: list[dict], path: Path, title: str = "", marks: dict[int, str] | None = None) -> Path:
    """Loss and accuracy, train vs validation, per epoch (the seed's plot_history); `marks` draws
    vertical lines at epochs (e.g. a phase change)."""
    epochs = [r["epoch"] for r in history]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric in zip(axes, ("loss", "acc"), strict=True):
        for split, style in (("train", "-o"), ("val", "-s")):
            key = f"{split}_{metric}"
            if history and key in history[0]:
                ax.plot(epochs, [r[key] for r in history], style, ms=3, label=split)
        for epoch, label in (marks or {}).items():
            ax.axvline(epoch + 0.5, color="grey", ls="--", lw=1)
            ax.text(epoch + 0.5, ax.get_ylim()[1], f" {label}", va="top", fontsize=8, color="grey")
        ax.set_xlabel("epoch")
        ax.set_ylabel({"loss": "loss", "acc": "accuracy"}[metric])
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    return _save(fig, path)


def plot_confusion(matrix: np.ndarray, classes: list[str], path: Path, title: str = "") -> Path:
    """Row-normalised confusion matrix with counts in the cells (rows: true class, columns: predicted)."""
    n = len(classes)
    size = max(5.0, 0.45 * n + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    rates = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    if n <= 30:
        for i in range(n):
            for j in range(n):
                ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if rates[i, j] > 0.5 else "black")
        ax.set_xticks(range(n), classes, rotation=90, fontsize=8)
        ax.set_yticks(range(n), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return _save(fig, path)


def plot_comparison(histories: dict[str, list[dict]], path: Path) -> Path:
    """Validation accuracy and loss of several runs, overlaid."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name, history in histories.items():
        epochs = [r["epoch"] for r in history]
        axes[0].plot(epochs, [r["val_acc"] for r in history], label=name)
        axes[1].plot(epochs, [r["val_loss"] for r in history], label=name)
    for ax, label in zip(axes, ("validation accuracy", "validation loss"), strict=True):
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    return _save(fig, path)


def save_image_grid(grid: torch.Tensor, path: Path, row_labels: list[str] | None = None,
                    col_labels: list[str] | None = None) -> Path:
    """Float grid (R, K, C, H, W) in [0, 1] -> PNG with R rows of K images."""
    rows, cols = grid.shape[:2]
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.3 * rows), squeeze=False)
    for r in range(rows):
        for c in range(cols):
            img = grid[r, c].permute(1, 2, 0).cpu().numpy()
            ax = axes[r, c]
            ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray" if img.shape[-1] == 1 else None,
                      vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if col_labels and r == 0:
                ax.set_title(col_labels[c], fontsize=8)
            if row_labels and c == 0:
                ax.set_ylabel(row_labels[r], fontsize=8)
    return _save(fig, path)
