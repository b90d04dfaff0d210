"""`cnnlab.load(...)` of a localize run or export: boxes with labels and scores, in pixels of each image as it was
given (what `cnnlab localize predict` writes to predictions.json)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cnnlab.data.inputs import expand, open_item
from cnnlab.localize.predict import boxes_of, load_model


@dataclass
class Detection:
    """One box: its class, score and corners (x0, y0, x1, y1) in pixels of the image."""

    label: str
    score: float
    box: tuple[float, float, float, float]


@dataclass
class BoxPrediction:
    """One image's boxes, best first (the single head gives one, the detector those scoring at least min_score)."""

    source: str  # the file, or "image N" for an image given as an object
    width: int
    height: int
    detections: list[Detection] = field(default_factory=list)

    @property
    def best(self) -> Detection:
        return self.detections[0]


class LocalizePredictor:
    """A trained localizer or detector (run folder or export) that finds boxes in images given in any form."""

    task = "localize"

    def __init__(self, model, classes: list[str], resize: str = "stretch") -> None:
        self.model, self.classes, self.resize = model, classes, resize

    def predict(self, images, min_score: float = 0.3) -> list[BoxPrediction]:
        """Boxes for a path (a folder: every image in it), a PIL image, an array, a tensor, or a list of them; the
        best box of each image always, the others when they score at least `min_score`."""
        mode = "L" if self.model.spec.backbone["in_channels"] == 1 else "RGB"
        out = []
        for i, item in enumerate(expand(images)):
            source, img = open_item(item, i, mode)
            width, height = img.size
            boxes, scores, labels = boxes_of(self.model, img, min_score, self.resize)
            found = [Detection(self.classes[int(c)], float(s), (float(b[0]) * width, float(b[1]) * height,
                                                                float(b[2]) * width, float(b[3]) * height))
                     for b, s, c in zip(boxes, scores, labels, strict=True)]
            out.append(BoxPrediction(source, width, height, found))
        return out


def load_predictor(path: str | Path, *, device: str = "auto") -> LocalizePredictor:
    """The predictor of a localize run folder (on `device`) or export (ONNX Runtime runs on the CPU)."""
    return LocalizePredictor(*load_model(path, device))
