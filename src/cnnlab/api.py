"""cnnlab from Python: `cnnlab.load(RUN_OR_EXPORT).predict(images)`, the commands' models as objects.

    import cnnlab
    model = cnnlab.load("runs/classify/baseline-cnn-digits")      # or an exported model.onnx / .safetensors
    for p in model.predict(["a.png", pil_image, numpy_array]):
        print(p.label, p.probability)

A run folder or export of each task gives its own predictor and results: classify -> Prediction (classes),
segment -> MaskPrediction (a mask array at each image's own size), localize -> BoxPrediction (boxes with labels
and scores in pixels), similarity -> EmbeddingPrediction (a unit-length vector); the last three live in their
task's room (cnnlab.TASK.predictor).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any, Protocol

import torch

from cnnlab.data.inputs import as_tensor, expand, open_item
from cnnlab.data.pixels import fit_square
from cnnlab.errors import CnnlabError

TASKS = ("classify", "segment", "localize", "similarity")  # what cnnlab.load takes: runs of these, and exports


class Predictor(Protocol):
    """What `cnnlab.load` gives for every task: the task's name and `predict(images)`, one result per image."""

    task: str

    def predict(self, images: Sequence[Any], *args: Any, **kwargs: Any) -> list: ...


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


def task_of_model(path: Path) -> str:
    """The task of an export (what its metadata says) or of a run folder; our error for anything else."""
    if path.suffix.lower() in (".onnx", ".safetensors"):
        from cnnlab.models.export import read_info

        return str(read_info(path).get("task"))
    from cnnlab.runs import task_of
    from cnnlab.train.run import RunDir

    folder = RunDir.open(path)
    task = task_of(folder.path)
    folder.check_task(task)
    return task


def load(path: str | Path, *, device: str = "auto") -> Predictor:
    """The model of a run folder or of a file `cnnlab export` wrote, ready to predict: a ClassifierPredictor,
    or the SegmentPredictor, LocalizePredictor or EmbeddingPredictor of the task's room."""
    path = Path(path)
    task = task_of_model(path)
    if task not in TASKS:
        raise CnnlabError(f"{path} is a {task} model; cnnlab.load takes {', '.join(TASKS)} runs and their exports")
    if task == "classify":
        from cnnlab.classify.evaluate import load_classifier

        return ClassifierPredictor(load_classifier(path, device=device))
    return import_module(f"cnnlab.{task}.predictor").load_predictor(path, device=device)
