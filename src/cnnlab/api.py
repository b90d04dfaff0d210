"""cnnlab from Python: `cnnlab.load(RUN_OR_EXPORT).predict(images)`, the commands' models as objects.

    import cnnlab
    model = cnnlab.load("runs/classify/baseline-cnn-digits")      # or an exported model.onnx / .safetensors
    for p in model.predict(["a.png", pil_image, numpy_array]):
        print(p.label, p.probability)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cnnlab.data.folders import collect_image_paths
from cnnlab.data.pixels import fit_square, normalize, open_image
from cnnlab.errors import CnnlabError, DataError


@dataclass
class Prediction:
    """One image's classes: the top one and the top k with probabilities."""

    source: str  # the file, or "image N" for an image given as an object
    label: str
    probability: float
    top: list[tuple[str, float]] = field(default_factory=list)


def _image(item, index: int, channels: int, size: int) -> tuple[str, torch.Tensor]:
    """(source, float (C, S, S) in [0, 1]) of a path, a PIL image, an array (H, W[, C]) or a tensor (C, H, W)."""
    mode = "L" if channels == 1 else "RGB"
    if isinstance(item, str | Path):
        img, source = open_image(Path(item), mode), str(item)
    elif isinstance(item, Image.Image):
        img, source = normalize(item, mode=mode), f"image {index}"
    elif isinstance(item, np.ndarray | torch.Tensor):
        array = item.detach().cpu().numpy() if isinstance(item, torch.Tensor) else item
        if isinstance(item, torch.Tensor) and array.ndim == 3:
            array = array.transpose(1, 2, 0)  # (C, H, W) -> (H, W, C)
        if array.dtype != np.uint8:
            array = (np.clip(array, 0, 1) * 255).round().astype(np.uint8)  # floats are taken as [0, 1]
        try:
            img, source = normalize(Image.fromarray(array.squeeze()), mode=mode), f"image {index}"
        except (TypeError, ValueError):
            raise DataError(f"image {index} is an array of shape {tuple(array.shape)}; give (H, W), (H, W, C) or "
                            "(N, H, W, C) arrays and (C, H, W) or (N, C, H, W) tensors") from None
    else:
        raise DataError(f"image {index} is a {type(item).__name__}; give a file path, a PIL image, an array or a "
                        "tensor")
    array = np.asarray(fit_square(img, size), dtype=np.float32) / 255
    return source, torch.from_numpy(array.reshape(size, size, channels)).permute(2, 0, 1)


class ClassifierPredictor:
    """A trained classifier (run folder or export) that predicts classes of images given in any form."""

    def __init__(self, loaded) -> None:
        self.model, self.classes = loaded.model, loaded.classes

    def predict(self, images, top_k: int = 3) -> list[Prediction]:
        """Predictions for a path (a folder: every image in it), a PIL image, an array, or a list of them."""
        items = list(images) if isinstance(images, list | tuple) else [images]
        expanded: list = []
        for item in items:
            if isinstance(item, str | Path):
                expanded += collect_image_paths([item])
            elif isinstance(item, np.ndarray | torch.Tensor) and item.ndim == 4:
                expanded += list(item)  # a batch: (N, C, H, W) tensor or (N, H, W, C) array
            else:
                expanded.append(item)
        spec = self.model.spec
        device = self.model.mean.device
        out = []
        with torch.no_grad():
            for i, item in enumerate(expanded):
                source, x = _image(item, i, spec.in_channels, spec.image_size)
                probs = self.model(x.unsqueeze(0).to(device)).float().softmax(1)[0]
                p, idx = probs.topk(min(top_k, len(self.classes)))
                top = [(self.classes[j], float(q)) for q, j in zip(p.tolist(), idx.tolist(), strict=True)]
                out.append(Prediction(source, top[0][0], top[0][1], top))
        return out


def load(path: str | Path, *, device: str = "auto") -> ClassifierPredictor:
    """The model of a run folder or of a file `cnnlab export` wrote, ready to predict (classify so far)."""
    from cnnlab.classify.evaluate import load_classifier
    from cnnlab.runs import task_of

    path = Path(path)
    if path.suffix.lower() not in (".onnx", ".safetensors"):
        from cnnlab.train.run import RunDir

        task = task_of(RunDir.open(path).path)
        if task != "classify":
            raise CnnlabError(f"{path} is a {task} run; cnnlab.load takes classify runs and their exports so far")
    return ClassifierPredictor(load_classifier(path, device=device))
