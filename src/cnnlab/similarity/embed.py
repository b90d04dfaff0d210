"""Embedders turn images into L2-normalised vectors for the index: a trained run's network, an untrained
copy of it, or raw pixels (the baseline). Each knows the image shape it takes and a reference that says
exactly which model made the vectors, so an index never mixes two models."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from cnnlab.data.images import ImageData, convert_channels, resize
from cnnlab.errors import IndexFolderError, RunFolderError
from cnnlab.similarity.model import SimilarityNet, similarity_net_from
from cnnlab.train import RunDir, resolve_device
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


class NetworkEmbedder(Embedder):
    """A SimilarityNet's `embed`, on `device`, in eval mode."""

    def __init__(self, net: SimilarityNet, *, device: torch.device, precision: str = "auto",
                 ref: dict | None = None) -> None:
        c, s, _ = net.backbone.input_size
        super().__init__(c, s, net.embedding_dim)
        self.net, self.device, self.precision = net.to(device).eval(), device, precision
        self._ref = ref or {"kind": "untrained", **net.describe()}

    def reference(self) -> dict:
        return self._ref

    def embed_float(self, x: torch.Tensor) -> torch.Tensor:
        with autocast(self.device, self.precision):
            return self.net.embed(x.to(self.device))


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


def load_run_network(run_path: str | Path) -> tuple[SimilarityNet, dict, str]:
    """The trained network of a similarity run (best checkpoint), its checkpoint dict and the checkpoint's
    digest."""
    run = RunDir.open(run_path)
    path = run.best_checkpoint
    if not path.is_file():
        raise RunFolderError(f"{run.path} has no trained model yet ({path} is missing)")
    ckpt = run.load_checkpoint(best=True)
    if "similarity" not in ckpt:
        raise RunFolderError(f"{run.path} is not a similarity run; train one with `cnnlab similarity train`")
    net = similarity_net_from(ckpt["similarity"])
    net.load_state_dict(ckpt["model"])
    return net, ckpt, file_digest(path)


def run_embedder(run_path: str | Path, device: str = "auto") -> NetworkEmbedder:
    net, ckpt, digest = load_run_network(run_path)
    ref = {"kind": "run", "run": str(Path(run_path).resolve()), "checkpoint": digest,
           "method": ckpt["similarity"]["method"], "model": ckpt["similarity"]["spec"]["name"]}
    return NetworkEmbedder(net, device=resolve_device(device), ref=ref)


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
    return run_embedder(model, device)


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
    embedder = run_embedder(run, device)
    if embedder.reference()["checkpoint"] != ref["checkpoint"]:
        raise IndexFolderError(f"the model in {run} has changed since the index was built (checkpoint "
                          f"{embedder.reference()['checkpoint']} != {ref['checkpoint']}); rebuild the index")
    return embedder
