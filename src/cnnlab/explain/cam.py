"""`cnnlab explain cam`: Grad-CAM of a trained run on image files: the top-k classes of a classifier, and for a
similarity run the regions that make two images similar."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cnnlab.data.pixels import fit_square, open_image
from cnnlab.errors import ConfigError, DataError, RunFolderError
from cnnlab.explain.figures import plt, save, show_image
from cnnlab.registry import unknown_name_message
from cnnlab.report.cam import grad_cam, show_cam
from cnnlab.trained import TrainedNetwork

DISPLAY = 192  # side of the pictures in the figures (the model itself sees its own input size)


@dataclass
class Picture:
    path: Path
    shown: np.ndarray  # float (D, D, C) in [0, 1]: the centre square the model sees, at display size
    x: torch.Tensor  # float (1, C, S, S) in [0, 1] on the model's device: what the model takes


def picture(path: Path, trained: TrainedNetwork) -> Picture:
    """An image file cropped and resized as the run's model takes it (as `classify predict` does)."""
    channels, size = trained.channels, trained.image_size
    img = open_image(path, "L" if channels == 1 else "RGB")
    side = max(size, DISPLAY)
    shown = np.asarray(fit_square(img, side), np.float32).reshape(side, side, channels) / 255
    array = np.asarray(fit_square(img, size), np.float32).reshape(size, size, channels) / 255
    device = next(trained.model.buffers(), next(trained.model.parameters())).device
    return Picture(path, shown, torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).to(device))


def class_targets(trained: TrainedNetwork, probs: torch.Tensor, top_k: int, wanted: list[str]) -> list[int]:
    """The indices of the `wanted` class names, or of the `top_k` most probable classes."""
    if wanted:
        unknown = [w for w in wanted if w not in trained.classes]
        if unknown:
            raise ConfigError(unknown_name_message("--class", unknown[0], trained.classes))
        return [trained.classes.index(w) for w in wanted]
    return probs.topk(min(top_k, len(trained.classes))).indices.tolist()


def classifier_cam(trained: TrainedNetwork, pic: Picture, top_k: int, wanted: list[str],
                   folder: Path) -> tuple[list[dict], Path]:
    """Heat maps of the chosen classes over one image: table rows and the figure's path."""
    with torch.no_grad():
        probs = trained.model(pic.x).float().softmax(1)[0]
    targets = class_targets(trained, probs, top_k, wanted)
    side = pic.shown.shape[0]
    heats, layer = grad_cam(trained.model, trained.network, pic.x, targets, size=(side, side))
    fig, axes = plt.subplots(1, 1 + len(targets), figsize=(3.3 * (1 + len(targets)), 3.4), squeeze=False)
    show_image(axes[0, 0], pic.shown, pic.path.name, f"model input {trained.image_size}x{trained.image_size}")
    rows = []
    for rank, (target, heat) in enumerate(zip(targets, heats, strict=True), start=1):
        name, p = trained.classes[target], float(probs[target])
        show_cam(fig, axes[0, rank], pic.shown, heat, f"{name}: p = {p:.1%}", colorbar=rank == len(targets))
        rows.append({"image": pic.path.name, "rank": rank, "class": name, "probability": f"{p:.1%}",
                     "layer": layer})
    fig.suptitle(f"Grad-CAM of {trained.name} ({layer}): where the evidence for each class lies", fontsize=10)
    return rows, save(fig, folder, f"cam-{pic.path.stem}.png")


def similarity_cam(trained: TrainedNetwork, a: Picture, b: Picture, folder: Path) -> tuple[dict, Path]:
    """The regions of each image that raise its embedding's cosine similarity to the other's."""
    with torch.no_grad():
        ea, eb = trained.model(a.x).float(), trained.model(b.x).float()  # (1, D) each, L2-normalised
    cosine = float((ea * eb).sum())
    side = a.shown.shape[0]
    heat_a, layer = grad_cam(lambda t: (trained.model(t).float() * eb).sum(1), trained.network, a.x, size=(side, side))
    heat_b, _ = grad_cam(lambda t: (trained.model(t).float() * ea).sum(1), trained.network, b.x, size=(side, side))
    fig, axes = plt.subplots(1, 4, figsize=(13.5, 3.4), squeeze=False)
    size = f"model input {trained.image_size}x{trained.image_size}"
    show_image(axes[0, 0], a.shown, a.path.name, size)
    show_cam(fig, axes[0, 1], a.shown, heat_a[0], "what in it matches the other", colorbar=False)
    show_image(axes[0, 2], b.shown, b.path.name, size)
    show_cam(fig, axes[0, 3], b.shown, heat_b[0], "what in it matches the other")
    fig.suptitle(f"Grad-CAM of {trained.name} ({layer}): cosine similarity {cosine:.3f}", fontsize=10)
    row = {"image": a.path.name, "other": b.path.name, "cosine similarity": f"{cosine:.3f}", "layer": layer}
    return row, save(fig, folder, f"cam-{a.path.stem}-{b.path.stem}.png")


def run_cam(trained: TrainedNetwork, paths: list[Path], *, top_k: int, wanted: list[str],
            folder: Path) -> tuple[list[dict], list[Path]]:
    """Grad-CAM figures for each image (classifier), or for the first image against each other (similarity).
    An unreadable image gets a row saying why; the others are still explained."""
    if trained.kind == "mask":
        raise RunFolderError("Grad-CAM explains a class or a similarity score; for a segment run, use `cnnlab "
                             "explain maps` or `cnnlab segment predict`")
    if trained.kind == "embedding" and wanted:
        raise ConfigError("--class is for classifier runs; a similarity run has no classes")
    pictures, rows, written = [], [], []
    for path in paths:
        try:
            pictures.append(picture(path, trained))
        except DataError as exc:
            rows.append({"image": path.name, "error": str(exc)})
    if trained.kind == "embedding":
        if len(pictures) < 2:
            raise ConfigError("a similarity run compares images: pass two or more readable ones (the first is "
                              "compared with each of the others)")
        pairs = [similarity_cam(trained, pictures[0], other, folder) for other in pictures[1:]]
        return rows + [row for row, _ in pairs], [path for _, path in pairs]
    for pic in pictures:
        more, path = classifier_cam(trained, pic, top_k, wanted, folder)
        rows += more
        written.append(path)
    return rows, written
