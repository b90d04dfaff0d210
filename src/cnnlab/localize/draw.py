"""Pictures of boxes: true boxes green, predicted red with class and score, drawn by torchvision."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image
from torchvision.utils import draw_bounding_boxes, make_grid

from cnnlab.atomic import replacing

TRUE, PRED = "lime", "red"
MIN_TILE = 192  # pixels: grid tiles are at least this wide


def draw(image: torch.Tensor, true: torch.Tensor | None, true_names: list[str], pred: torch.Tensor,
         pred_names: list[str], width: int = 2) -> torch.Tensor:
    """image uint8 (C, H, W); boxes xyxy in [0, 1] -> uint8 (3, H, W) with the boxes drawn at the image's size."""
    h, w = image.shape[-2:]
    scale = torch.tensor([w, h, w, h], dtype=torch.float32)
    out = image.expand(3, -1, -1).contiguous() if image.shape[0] == 1 else image
    if true is not None and len(true):
        out = draw_bounding_boxes(out, true.float() * scale, true_names, colors=TRUE, width=width)
    if len(pred):
        out = draw_bounding_boxes(out, pred.float() * scale, pred_names, colors=PRED, width=width)
    return out


def labelled(pred: tuple, classes: list[str], limit: int = 5) -> tuple[torch.Tensor, list[str]]:
    """The first `limit` predicted boxes of one image and their 'class 0.93' labels."""
    boxes, scores, labels = pred
    return boxes[:limit], [f"{classes[int(c)]} {float(s):.2f}" for s, c in zip(scores[:limit], labels[:limit],
                                                                              strict=True)]


def save_png(picture: torch.Tensor, path: Path) -> Path:
    """uint8 (3, H, W) -> PNG, written to a temporary file beside `path`, then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as tmp:
        Image.fromarray(picture.permute(1, 2, 0).cpu().numpy()).save(tmp, format="PNG")
    return path


def box_grid(images: torch.Tensor, targets: torch.Tensor, preds: list[tuple], classes: list[str], path: Path,
             columns: int = 4) -> Path:
    """images uint8 (N, C, S, S), targets (N, M, 5), predictions per image -> one PNG grid."""
    if images.shape[-1] < MIN_TILE:  # small images are enlarged so that the labels can be read
        images = torch.nn.functional.interpolate(images.float(), size=MIN_TILE, mode="nearest").byte()
    tiles = []
    for image, target, pred in zip(images, targets, preds, strict=True):
        real = target[target[:, 0] >= 0]
        boxes, names = labelled(pred, classes, 3)
        tiles.append(draw(image.cpu(), real[:, 1:], [classes[int(c)] for c in real[:, 0]], boxes.cpu(), names))
    return save_png(make_grid(torch.stack(tiles), nrow=columns, padding=4, pad_value=255), path)
