"""`cnnlab.load(...)` of a segment run or export: masks of images given in any form, as arrays at each image's
own size (what `cnnlab segment predict` writes as STEM_mask.png)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnnlab.data.inputs import expand, open_item
from cnnlab.segment.predict import load_segmenter, mask_of


@dataclass
class MaskPrediction:
    """One image's mask: class indices (H, W), uint8, at the image's own size; classes[k] names index k."""

    source: str  # the file, or "image N" for an image given as an object
    mask: np.ndarray
    classes: list[str] = field(repr=False)

    @property
    def share(self) -> dict[str, float]:
        """The share of the image's pixels in each class that occurs."""
        values, counts = np.unique(self.mask, return_counts=True)
        return {self.classes[v]: float(c) / self.mask.size for v, c in zip(values.tolist(), counts.tolist(),
                                                                            strict=True)}


class SegmentPredictor:
    """A trained U-Net (run folder or export) that predicts masks of images given in any form."""

    task = "segment"

    def __init__(self, model, classes: list[str]) -> None:
        self.model, self.classes = model, classes

    def predict(self, images) -> list[MaskPrediction]:
        """Masks for a path (a folder: every image in it), a PIL image, an array, a tensor, or a list of them."""
        mode = "L" if self.model.spec.in_channels == 1 else "RGB"
        out = []
        for i, item in enumerate(expand(images)):
            source, img = open_item(item, i, mode)
            out.append(MaskPrediction(source, mask_of(self.model, img), self.classes))
        return out


def load_predictor(path: str | Path, *, device: str = "auto") -> SegmentPredictor:
    """The predictor of a segment run folder (on `device`) or export (ONNX Runtime runs on the CPU)."""
    return SegmentPredictor(*load_segmenter(path, device))
