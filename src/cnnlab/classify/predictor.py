"""The classify room's predictor: a trained classifier (run folder or export) that predicts the classes of images
given in any form (`cnnlab.load(RUN).predict(images)`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from cnnlab.data.inputs import as_tensor, expand, open_item
from cnnlab.data.pixels import fit_square


@dataclass
class Prediction:
    """One image's classes: the top one and the top k with probabilities."""

    source: str  # the file, or "image N" for an image given as an object
    label: str
    probability: float
    top: list[tuple[str, float]] = field(default_factory=list)


def _image(item, index: int, channels: int, size: int) -> tuple[str, torch.Tensor]:
    """(source, float (C, S, S) in [0, 1]) of a path, a PIL image, an array (H, W[, C]) or a tensor (C, H, W):
    the shorter side resized to S, the centre cropped, as `classify predict` does."""
    source, img = open_item(item, index, "L" if channels == 1 else "RGB")
    return source, as_tensor(fit_square(img, size), channels)


class ClassifierPredictor:
    """A trained classifier (run folder or export) that predicts classes of images given in any form."""

    task = "classify"

    def __init__(self, loaded) -> None:
        self.model, self.classes = loaded.model, loaded.classes

    def predict(self, images, top_k: int = 3) -> list[Prediction]:
        """Predictions for a path (a folder: every image in it), a PIL image, an array, or a list of them."""
        spec = self.model.spec
        device = self.model.mean.device
        out = []
        with torch.no_grad():
            for i, item in enumerate(expand(images)):
                source, x = _image(item, i, spec.in_channels, spec.image_size)
                probs = self.model(x.unsqueeze(0).to(device)).float().softmax(1)[0]
                p, idx = probs.topk(min(top_k, len(self.classes)))
                top = [(self.classes[j], float(q)) for q, j in zip(p.tolist(), idx.tolist(), strict=True)]
                out.append(Prediction(source, top[0][0], top[0][1], top))
        return out


def load_predictor(path: str | Path, *, device: str = "auto") -> ClassifierPredictor:
    """The predictor of a classify run folder (on `device`) or export (ONNX Runtime runs on the CPU)."""
    from cnnlab.classify.evaluate import load_classifier

    return ClassifierPredictor(load_classifier(path, device=device))
