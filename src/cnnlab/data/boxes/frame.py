"""The square frame a localizer sees, and the way back out of it: one transform for training, evaluation,
prediction, export checks and Grad-CAM.

An image of any shape goes into an S x S square either stretched (each side scaled to S on its own) or letterboxed
(the longer side scaled to S, the aspect kept, the rest filled with mid-gray). Where the image lies in the square is
its *region*: (x0, y0, x1, y1) as fractions of the square; a stretched image fills it, (0, 0, 1, 1). Boxes are
xyxy fractions: of the image's own width and height ("image boxes"), or of the square ("frame boxes").
"""

from __future__ import annotations

import torch
from PIL import Image

from cnnlab.data.boxes import RESIZES

# Mid-gray, about ImageNet's mean brightness: close to zero once the network normalises its input, so the border
# says little; the same for one-channel images.
PAD = 128


def placement(width: int, height: int, side: int, resize: str) -> tuple[int, int, int, int]:
    """(left, top, scaled width, scaled height) in pixels of the `side` x `side` square."""
    if resize not in RESIZES:
        raise ValueError(f"resize must be one of {RESIZES}, got {resize!r}")
    if resize == "stretch":
        return 0, 0, side, side
    scale = side / max(width, height)
    w, h = max(1, min(side, round(width * scale))), max(1, min(side, round(height * scale)))
    return (side - w) // 2, (side - h) // 2, w, h


def region(width: int, height: int, side: int, resize: str) -> tuple[float, float, float, float]:
    """Where an image of `width` x `height` lies in the square: (x0, y0, x1, y1) as fractions of its side."""
    left, top, w, h = placement(width, height, side, resize)
    return left / side, top / side, (left + w) / side, (top + h) / side


def regions(sizes: torch.Tensor, side: int, resize: str) -> torch.Tensor:
    """sizes (N, 2) of (width, height) -> regions (N, 4), float."""
    return torch.tensor([region(int(w), int(h), side, resize) for w, h in sizes.tolist()],
                        dtype=torch.float32).reshape(-1, 4)


def fit_image(img: Image.Image, side: int, resize: str) -> Image.Image:
    """The image (mode L or RGB) in the `side` x `side` square, resized bilinearly, stretched or letterboxed."""
    left, top, w, h = placement(img.width, img.height, side, resize)
    small = img.resize((w, h), Image.Resampling.BILINEAR)
    if (w, h) == (side, side):
        return small
    square = Image.new(img.mode, (side, side), PAD if img.mode == "L" else (PAD,) * len(img.getbands()))
    square.paste(small, (left, top))
    return square


def _affine(where: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """regions (..., 4) -> (offset, scale), each (..., 4) for x0, y0, x1, y1."""
    offset = where[..., [0, 1, 0, 1]]
    scale = (where[..., 2:] - where[..., :2])[..., [0, 1, 0, 1]]
    return offset, scale


def to_frame(boxes: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
    """Image boxes (..., 4) -> frame boxes, for images lying at `where` (..., 4) (broadcast, e.g. (N, 1, 4) for
    boxes (N, M, 4))."""
    offset, scale = _affine(where.to(boxes))
    return offset + boxes * scale


def from_frame(boxes: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
    """Frame boxes (..., 4) -> image boxes, clipped to the image (a box reaching into the border ends at the
    image's edge)."""
    offset, scale = _affine(where.to(boxes))
    return ((boxes - offset) / scale).clamp(0, 1)


def crop_to_image(square: torch.Tensor, where: tuple[float, float, float, float]) -> torch.Tensor:
    """The part of a map (..., S, S) over the square that lies over the image (the border cut off)."""
    side = square.shape[-1]
    x0, y0, x1, y1 = (round(v * side) for v in where)
    return square[..., y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)]
