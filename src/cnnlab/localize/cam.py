"""`cnnlab explain cam` of a localize run: Grad-CAM of a localizer over images, where the evidence lies for its
class score or for its box, drawn over each image at its own aspect with the predicted box.

The heat map is read at the backbone's last feature map (the one both heads read), through the shared Grad-CAM
(cnnlab.report.cam, captum's LayerGradCam). What it explains:
- class: the predicted class's logit (the detector: that logit in the cell whose box is shown);
- box, single head: the evidence that moves any of the box's four edges, either way: the mean of the four
  coordinates' |Grad-CAM| maps, each scaled to its maximum (a coordinate's sign says where, not whether: the
  positive part of the sum of the coordinates leaves out the evidence that pulls an edge left or up; on drawn
  squares it was hotter in the object than on average on a quarter of the images, against all of them this way);
  box, detector: the objectness logit of the cell whose box is shown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from cnnlab.data.boxes.frame import crop_to_image, region
from cnnlab.localize.detect import cell_scores
from cnnlab.localize.model import Localizer
from cnnlab.localize.predict import boxes_of, model_input
from cnnlab.report.cam import grad_cam

TARGETS = ("class", "box")
DISPLAY = 320  # pixels: the longer side of the pictures (the model sees its own input size)


@dataclass
class BoxCam:
    """One image explained: the heat map over the image (H, W) in [0, 1] at the image's own aspect (the letterbox
    border cut off), the predicted box (x0, y0, x1, y1 as fractions of the image), its class index and score, and
    the layer read."""

    heat: np.ndarray
    box: tuple[float, float, float, float]
    label: int
    score: float
    layer: str


def score_of(model: Localizer, x: torch.Tensor, target: str, label: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """forward: images (N, C, S, S) -> (N,): the score whose evidence the map shows (see the module's docstring);
    (N, 4), the box, for the single head's box."""
    if model.spec.head == "single":
        if target == "class":
            return lambda t: model(t)["logits"][:, label].float()
        return lambda t: model(t)["boxes"].float()
    with torch.no_grad():
        grid = model(x)["grid"].float()  # (1, 5 + K, G, G)
    g = grid.shape[-1]
    cell = int(cell_scores(grid)[0].max(1).values.argmax())  # the best cell: the first box after NMS
    row, col = divmod(cell, g)
    channel = 1 + label if target == "class" else 0
    return lambda t: model(t)["grid"][:, channel, row, col].float()


def explain_image(model: Localizer, img: Image.Image, resize: str, target: str) -> BoxCam:
    """Grad-CAM of `target` (class or box) for the best box of one image (mode L or RGB), computed on the square
    the localizer sees (stretched or letterboxed as it was trained) and taken back to the image's own frame."""
    model.eval()
    side, channels = model.spec.backbone["image_size"], model.spec.backbone["in_channels"]
    device = next(model.parameters()).device
    x = model_input(img, side, channels, resize).to(device)  # (1, C, S, S)
    boxes, scores, labels = boxes_of(model, img, 1.0, resize)  # the best box only
    label = int(labels[0])
    edges = model.spec.head == "single" and target == "box"
    heat, layer = grad_cam(score_of(model, x, target, label), model.backbone, x, [0, 1, 2, 3] if edges else None,
                           absolute=edges)  # (1 or 4, S, S), each scaled to its maximum
    heat = heat.mean(0) / max(float(heat.mean(0).max()), 1e-12)  # (S, S)
    own = crop_to_image(torch.from_numpy(heat), region(img.width, img.height, side, resize))
    shape = display_size(img.width, img.height, DISPLAY)
    heat = F.interpolate(own[None, None].float(), size=shape, mode="bilinear", align_corners=False)[0, 0]
    return BoxCam(heat.clamp(0, 1).numpy(), tuple(float(v) for v in boxes[0]), label, float(scores[0]), layer)


def display_size(width: int, height: int, longest: int) -> tuple[int, int]:
    """(rows, columns) of a picture of a `width` x `height` image whose longer side is `longest` pixels."""
    scale = longest / max(width, height)
    return max(1, round(height * scale)), max(1, round(width * scale))


def heat_ratio(heat: np.ndarray, box: tuple[float, float, float, float]) -> float:
    """The mean heat inside `box` (fractions of the map) over the mean heat of the whole map: above 1 when the
    evidence gathers in the box (nan when the map is all zero)."""
    h, w = heat.shape
    x0, y0 = int(box[0] * w), int(box[1] * h)
    x1, y1 = max(int(np.ceil(box[2] * w)), x0 + 1), max(int(np.ceil(box[3] * h)), y0 + 1)
    whole = float(heat.mean())
    return float(heat[y0:y1, x0:x1].mean()) / whole if whole > 0 else float("nan")


def cam_figure(img: Image.Image, cam: BoxCam, name: str, title: str, path: Path) -> Path:
    """Two panels for one image: the image with the predicted box, and the heat map over it with the same box;
    written to `path` through a temporary file."""
    import matplotlib.pyplot as plt

    from cnnlab.report.backend import use_file_backend

    use_file_backend()
    from matplotlib.patches import Rectangle

    from cnnlab.atomic import replacing
    from cnnlab.report.cam import show_cam

    rows, cols = cam.heat.shape
    shown = np.asarray(img.convert("RGB").resize((cols, rows), Image.Resampling.BILINEAR), np.float32) / 255
    fig, axes = plt.subplots(1, 2, figsize=(8.6, 4 * rows / cols + 0.8), squeeze=False)
    axes[0, 0].imshow(shown)
    axes[0, 0].set_title(f"{name}\n{img.width}x{img.height}", fontsize=9)
    axes[0, 0].axis("off")
    show_cam(fig, axes[0, 1], shown, cam.heat, title)
    x0, y0, x1, y1 = cam.box
    for ax in axes[0]:
        ax.add_patch(Rectangle((x0 * cols - 0.5, y0 * rows - 0.5), (x1 - x0) * cols, (y1 - y0) * rows, fill=False,
                               edgecolor="red", linewidth=2))
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight", format="png")
    plt.close(fig)
    return path


def explain_run(run: str | Path, inputs: list[str], *, target: str = "class", out: str | Path = "explain",
                device: str = "auto") -> tuple[list[dict], list[Path]]:
    """Grad-CAM figures (cam-STEM-TARGET.png in `out`, never replacing a file) of a localize run's best model for
    every image in `inputs`; table rows, and the figures written. An unreadable image gets a row saying why."""
    from cnnlab.checks import check_choice, check_device
    from cnnlab.cliutil import fresh_path
    from cnnlab.data.folders import collect_image_paths
    from cnnlab.data.pixels import open_image
    from cnnlab.errors import ConfigError, DataError
    from cnnlab.localize.predict import load_localizer
    from cnnlab.train.device import resolve_device

    check_choice("target", target, TARGETS)
    check_device(device)
    if Path(run).suffix.lower() in (".onnx", ".safetensors"):
        raise ConfigError(f"{run} is an export; Grad-CAM needs the gradients of the trained model: pass its run folder")
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"--out {out} is a file; pass a folder for the pictures")
    paths = collect_image_paths(inputs)
    _, cfg, model, classes = load_localizer(run)
    model.to(resolve_device(device))
    mode = "L" if model.spec.backbone["in_channels"] == 1 else "RGB"
    rows, written = [], []
    for path in paths:
        try:
            img = open_image(path, mode)
        except DataError as exc:
            rows.append({"image": path.name, "error": str(exc)})
            continue
        cam = explain_image(model, img, cfg.resize, target)
        name = classes[cam.label]
        what = f"{name} {cam.score:.2f}: what drove the {'class' if target == 'class' else 'box'}"
        written.append(cam_figure(img, cam, path.name, what, fresh_path(folder / f"cam-{path.stem}-{target}.png")))
        rows.append({"image": path.name, "class": name, "score": round(cam.score, 4), "target": target,
                     "heat in box / image": round(heat_ratio(cam.heat, cam.box), 2), "layer": cam.layer})
    return rows, written

