"""Embedders turn images into L2-normalised vectors for the index: raw pixels (the baseline), a pretrained
CNN's ImageNet features, or a trained run's network (made by the run's own room: `cnnlab.TASK.embed`, found by
the task its folder names). Each knows the image shape it takes and a reference that says exactly which model
made the vectors, so an index never mixes two models."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from cnnlab.data.images import ImageData, convert_channels, resize
from cnnlab.errors import IndexFolderError, RunFolderError
from cnnlab.train import resolve_device
from cnnlab.train.device import autocast


@dataclass
class Embedder:
    """Base: images of `channels` x `image_size` x `image_size` -> vectors (N, dim), float32, unit length."""

    channels: int
    image_size: int
    dim: int

    def reference(self) -> dict:
        raise NotImplementedError

    def embed_float(self, x: torch.Tensor) -> torch.Tensor:
        """float (N, C, S, S) in [0, 1] -> (N, dim)."""
        raise NotImplementedError

    def fit_images(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, C, H, W) of any size and 1 or 3 channels -> uint8 (N, channels, S, S)."""
        if images.shape[-1] != self.image_size or images.shape[-2] != self.image_size:
            images = resize(images, self.image_size)
        return convert_channels(images, self.channels)

    @torch.no_grad()
    def embed_images(self, images: torch.Tensor, batch_size: int = 256, progress=None) -> np.ndarray:
        """uint8 (N, C, H, W) -> float32 (N, dim); converted to this embedder's shape first."""
        out = []
        for start in range(0, len(images), batch_size):
            x = self.fit_images(images[start:start + batch_size]).float().div_(255)
            out.append(self.embed_float(x).float().cpu())
            if progress is not None:
                progress(min(start + batch_size, len(images)))
        return torch.cat(out).numpy() if out else np.zeros((0, self.dim), np.float32)

    def embed_data(self, data: ImageData, batch_size: int = 256) -> np.ndarray:
        return self.embed_images(data.images, batch_size)


class PixelEmbedder(Embedder):
    """Raw pixels, flattened and L2-normalised: the baseline every learnt embedding has to beat."""

    def __init__(self, channels: int, image_size: int) -> None:
        super().__init__(channels, image_size, channels * image_size * image_size)

    def reference(self) -> dict:
        return {"kind": "pixels", "channels": self.channels, "image_size": self.image_size}

    def embed_float(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x.flatten(1), dim=1)


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


class PretrainedEmbedder(Embedder):
    """ImageNet features of a pretrained timm CNN (EfficientNet-Lite0 by default, offline from its package), pooled
    and L2-normalised: good search for photo folders with no training at all."""

    def __init__(self, arch: str = "efficientnet_lite0", *, device: torch.device, weights: str | None = None,
                 precision: str = "auto") -> None:
        from cnnlab.models.factory import create_model

        self.model = create_model(f"timm:{arch}", 3, 1000, 224, pretrained=True, weights=weights).to(device).eval()
        self.arch, self.device, self.precision = arch, device, precision
        self.source = self.model.spec.pretrained or ""
        super().__init__(3, self.model.spec.network_size, self.model.net.num_features)

    def reference(self) -> dict:
        path = self.source.partition(": ")[2]
        return {"kind": "pretrained", "model": self.arch, "weights": file_digest(Path(path)) if path else self.source}

    def embed_float(self, x: torch.Tensor) -> torch.Tensor:
        with autocast(self.device, self.precision):
            features = self.model.forward_head(self.model.forward_features(x.to(self.device)), pre_logits=True)
        return F.normalize(features.float(), dim=1)


def _run_embedder(run: Path, device: str) -> Embedder:
    """The embedder of a trained run, from the room of the run's task (a room that embeds has `embed.run_embedder`)."""
    from cnnlab.runs import task_of_run

    task = task_of_run(run)
    try:
        room = import_module(f"cnnlab.{task}.embed")
    except ModuleNotFoundError:
        raise RunFolderError(f"{run} is a {task} run, which does not embed images for an index; train one with "
                             "`cnnlab similarity train`") from None
    return room.run_embedder(run, device)


def embedder_for(model: str, *, channels: int | None = None, image_size: int | None = None,
                 device: str = "auto") -> Embedder:
    """'pixels' (needs channels and image_size), 'pretrained[:ARCH]' (ImageNet features, no training) or a
    similarity run folder."""
    if model == "pixels":
        if channels is None or image_size is None:
            raise ValueError("the pixel embedder needs channels and image_size")
        return PixelEmbedder(channels, image_size)
    if model == "pretrained" or model.startswith("pretrained:"):
        return PretrainedEmbedder(model.partition(":")[2] or "efficientnet_lite0", device=resolve_device(device))
    return _run_embedder(Path(model), device)


def embedder_from_reference(ref: dict, device: str = "auto") -> Embedder:
    """The embedder an index was built with, checking that the model it names has not changed since."""
    if ref["kind"] == "pixels":
        return PixelEmbedder(ref["channels"], ref["image_size"])
    if ref["kind"] == "pretrained":
        embedder = PretrainedEmbedder(ref["model"], device=resolve_device(device))
        if embedder.reference() != ref:
            raise IndexFolderError(f"the index was built with other {ref['model']} weights ({ref['weights']}) than "
                                   f"the ones found now ({embedder.reference()['weights']}); rebuild the index")
        return embedder
    if ref["kind"] != "run":
        raise IndexFolderError(f"an index of a {ref['kind']} model cannot embed new images; build it from a run")
    run = Path(ref["run"])
    if not run.exists():
        raise IndexFolderError(f"the index was built with the model in {run}, which no longer exists; rebuild the "
                          "index with `cnnlab similarity index RUN ...`")
    embedder = _run_embedder(run, device)
    if embedder.reference()["checkpoint"] != ref["checkpoint"]:
        raise IndexFolderError(f"the model in {run} has changed since the index was built (checkpoint "
                          f"{embedder.reference()['checkpoint']} != {ref['checkpoint']}); rebuild the index")
    return embedder
