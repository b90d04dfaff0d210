"""`cnnlab.load(...)` of a similarity run or export: an L2-normalised embedding of each image given in any form,
so that the cosine of two images is the dot product of their vectors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cnnlab.data.inputs import as_tensor, expand, open_item
from cnnlab.data.pixels import fit_square
from cnnlab.similarity.embed import load_run_network
from cnnlab.similarity.exported import load_exported
from cnnlab.train.device import resolve_device
from cnnlab.train.run import RunDir


@dataclass
class EmbeddingPrediction:
    """One image's embedding: float32 (D,), unit length."""

    source: str  # the file, or "image N" for an image given as an object
    vector: np.ndarray


class EmbeddingPredictor:
    """A trained embedding network (run folder or export) that embeds images given in any form; each image's
    shorter side is resized to the network's side and the centre cropped, as `similarity query` does."""

    task = "similarity"

    def __init__(self, model, channels: int, image_size: int, classes: list[str]) -> None:
        self.model, self.channels, self.image_size, self.classes = model, channels, image_size, classes

    @torch.no_grad()
    def predict(self, images, batch_size: int = 64) -> list[EmbeddingPrediction]:
        """Embeddings for a path (a folder: every image in it), a PIL image, an array, a tensor, or a list."""
        mode = "L" if self.channels == 1 else "RGB"
        device = self.model.backbone.mean.device if isinstance(self.model, nn.Module) else torch.device("cpu")
        sources, vectors, batch = [], [], []
        items = expand(images)
        for i, item in enumerate(items):
            source, img = open_item(item, i, mode)
            sources.append(source)
            batch.append(as_tensor(fit_square(img, self.image_size), self.channels))
            if len(batch) == batch_size or i == len(items) - 1:
                vectors.append(self.model(torch.stack(batch).to(device)).float().cpu())
                batch = []
        flat = torch.cat(vectors).numpy() if vectors else np.zeros((0, 1), np.float32)
        return [EmbeddingPrediction(s, v) for s, v in zip(sources, flat, strict=True)]

    def embed(self, images) -> np.ndarray:
        """float32 (N, D): the rows of `predict`'s vectors."""
        found = self.predict(images)
        return np.stack([p.vector for p in found]) if found else np.zeros((0, 0), np.float32)


def load_predictor(path: str | Path, *, device: str = "auto") -> EmbeddingPredictor:
    """The predictor of a similarity run folder (on `device`) or export (ONNX Runtime runs on the CPU)."""
    if Path(path).suffix.lower() in (".onnx", ".safetensors"):
        model, info = load_exported(path)
        spec, classes = info["spec"], [str(c) for c in info["classes"]]
        return EmbeddingPredictor(model, spec["in_channels"], spec["image_size"], classes)
    net, ckpt, _ = load_run_network(RunDir.open(path, task="similarity").path)
    c, s, _ = net.backbone.input_size
    return EmbeddingPredictor(net.to(resolve_device(device)).eval(), c, s, [str(k) for k in ckpt.get("classes", [])])
