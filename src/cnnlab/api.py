"""cnnlab from Python: `cnnlab.load(RUN_OR_EXPORT).predict(images)`, the commands' models as objects.

    import cnnlab
    model = cnnlab.load("runs/classify/baseline-cnn-digits")      # or an exported model.onnx / .safetensors
    for p in model.predict(["a.png", pil_image, numpy_array]):
        print(p.label, p.probability)

A run folder or export of each task gives its own predictor and results: classify -> Prediction (classes),
segment -> MaskPrediction (a mask array at each image's own size), localize -> BoxPrediction (boxes with labels
and scores in pixels), similarity -> EmbeddingPrediction (a unit-length vector); each lives in its task's room
(cnnlab.TASK.predictor), found here by the task the run or export names.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import import_module
from pathlib import Path
from typing import Any, Protocol

from cnnlab.classify.predictor import ClassifierPredictor, Prediction  # noqa: F401  (their old address)
from cnnlab.errors import CnnlabError
from cnnlab.tasks import PREDICTING


class Predictor(Protocol):
    """What `cnnlab.load` gives for every task: the task's name and `predict(images)`, one result per image."""

    task: str

    def predict(self, images: Sequence[Any], *args: Any, **kwargs: Any) -> list: ...


def task_of_model(path: Path) -> str:
    """The task of an export (what its metadata says) or of a run folder; our error for anything else."""
    if path.suffix.lower() in (".onnx", ".safetensors"):
        from cnnlab.models.export import read_info

        return str(read_info(path).get("task"))
    from cnnlab.runs import task_of_run

    return task_of_run(path)


def load(path: str | Path, *, device: str = "auto") -> Predictor:
    """The model of a run folder or of a file `cnnlab export` wrote, ready to predict: a ClassifierPredictor,
    or the SegmentPredictor, LocalizePredictor or EmbeddingPredictor of the task's room."""
    path = Path(path)
    task = task_of_model(path)
    if task not in PREDICTING:
        raise CnnlabError(f"{path} is a {task} model; cnnlab.load takes {', '.join(PREDICTING)} runs and their "
                          "exports")
    return import_module(f"cnnlab.{task}.predictor").load_predictor(path, device=device)
