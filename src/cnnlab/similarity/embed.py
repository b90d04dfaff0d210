"""The embedder of a trained similarity run for the index (cnnlab.index.embedders finds it by the run's task):
its SimilarityNet's `embed`, and the loading of a run's network."""

from __future__ import annotations

from pathlib import Path

import torch

from cnnlab.errors import RunFolderError
from cnnlab.index.embedders import Embedder, file_digest
from cnnlab.similarity.model import SimilarityNet, similarity_net_from
from cnnlab.train import RunDir, resolve_device
from cnnlab.train.device import autocast


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
