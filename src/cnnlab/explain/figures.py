"""The explain room's figures: PNGs with titles, sizes and colour bars, each written whole into the --out folder
under a name not yet taken (NAME-2.png, ... when NAME.png is there)."""

from __future__ import annotations

from pathlib import Path

from cnnlab.report.backend import use_file_backend

use_file_backend()
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cnnlab.atomic import replacing  # noqa: E402
from cnnlab.cliutil import fresh_path  # noqa: E402


def save(fig, folder: Path, name: str) -> Path:
    """Write `fig` as folder/name (or the first free numbered name) and close it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = fresh_path(folder / name)
    with replacing(path) as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def show_image(ax, image: np.ndarray, title: str, size: str | None = None) -> None:
    """An (H, W, C) float image in [0, 1] with its size (or `size`) in the title."""
    height, width, channels = image.shape
    rgb = channels == 3
    ax.imshow(np.clip(image if rgb else image[..., 0], 0, 1), cmap=None if rgb else "gray", vmin=0, vmax=1)
    shown = "" if channels in (1, 3) else " (map 1 shown)"
    ax.set_title(f"{title}\n{size or f'{height}x{width}x{channels}'}{shown}", fontsize=9)
    ax.axis("off")


def show_map(fig, ax, array: np.ndarray, title: str, cmap: str = "gray") -> None:
    """A 2-D map with its size in the title and a colour bar of its values."""
    shown = ax.imshow(array, cmap=cmap, interpolation="nearest")
    ax.set_title(f"{title}\n{array.shape[0]}x{array.shape[1]}", fontsize=9)
    ax.axis("off")
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)


def show_kernel(fig, ax, kernel: np.ndarray, title: str) -> None:
    """A kernel's weights as a square of cells, the numbers written in when it is small enough to read."""
    limit = float(np.abs(kernel).max()) or 1.0
    shown = ax.imshow(kernel, cmap="coolwarm", vmin=-limit, vmax=limit, interpolation="nearest")
    size = kernel.shape[0]
    if size <= 7:
        for (i, j), value in np.ndenumerate(kernel):
            ax.text(j, i, f"{value:.2g}", ha="center", va="center", fontsize=7)
    ax.set_title(f"kernel {title}\n{size}x{size}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)


def filters_figure(rows: list[tuple[str, np.ndarray, list[np.ndarray]]], kernels: list[tuple[str, np.ndarray]],
                   caption: str, folder: Path) -> Path:
    """First row: the kernels; then for each image: the image and one feature map per kernel."""
    cols = 1 + len(kernels)
    fig, axes = plt.subplots(1 + len(rows), cols, figsize=(3.2 * cols, 2.8 * (1 + len(rows))), squeeze=False)
    axes[0, 0].axis("off")
    axes[0, 0].text(0.5, 0.5, caption, ha="center", va="center", fontsize=9, wrap=True)
    for j, (label, kernel) in enumerate(kernels, start=1):
        show_kernel(fig, axes[0, j], kernel, label)
    for i, (name, image, maps) in enumerate(rows, start=1):
        show_image(axes[i, 0], image, name)
        for j, ((label, _), fmap) in enumerate(zip(kernels, maps, strict=True), start=1):
            show_map(fig, axes[i, j], fmap, f"{name} * {label}")
    fig.suptitle("Convolution: kernels and the feature maps they make", fontsize=11)
    return save(fig, folder, "filters.png")


def pooling_figure(rows: list[tuple[str, np.ndarray, list[tuple[str, np.ndarray]]]], caption: str,
                   folder: Path) -> Path:
    """For each input: the input, then each pooled result ((C, H', W') arrays; RGB when C is 3)."""
    cols = 1 + max(len(r[2]) for r in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(3.4 * cols, 3.0 * len(rows)), squeeze=False)
    for i, (name, image, results) in enumerate(rows):
        show_image(axes[i, 0], image, name)
        for j, (label, result) in enumerate(results, start=1):
            if result.shape[0] == 3 and result.min() >= 0 and result.max() <= 1:
                show_image(axes[i, j], result.transpose(1, 2, 0), label)
            else:
                more = f" (map 1 of {result.shape[0]})" if result.shape[0] > 1 else ""
                show_map(fig, axes[i, j], result[0], label + more, cmap="viridis")
        for ax in axes[i, 1 + len(results):]:
            ax.axis("off")
    fig.suptitle(f"Pooling: {caption}", fontsize=11)
    return save(fig, folder, "pooling.png")


def table_figure(rows: list[dict], title: str, folder: Path, name: str) -> Path:
    """A table of rows (same keys) drawn as a figure, for the commands whose result is numbers."""
    keys = list(rows[0])
    fig, ax = plt.subplots(figsize=(12, 0.45 * (len(rows) + 2)))
    ax.axis("off")
    drawn = ax.table([[str(r[k]) for k in keys] for r in rows], colLabels=keys, loc="center", cellLoc="left")
    drawn.auto_set_font_size(False)
    drawn.set_fontsize(9)
    drawn.auto_set_column_width(list(range(len(keys))))
    drawn.scale(1, 1.4)
    ax.set_title(title, fontsize=11)
    return save(fig, folder, name)
