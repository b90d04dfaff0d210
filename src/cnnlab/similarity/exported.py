"""A similarity run's embedding network as `cnnlab export` writes it, read back without its run folder: images
(N, C, S, S) in [0, 1] -> L2-normalised embeddings (N, D), so that the cosine of two images is the dot product
of their vectors. Only the embedding goes out: a Siamese run's pair head is not exported."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from cnnlab.models.base import ModelSpec
from cnnlab.models.export import OnnxModel, read_safetensors, rebuilt
from cnnlab.similarity.model import SimilarityNet, similarity_net_from


class OnnxEmbedding(OnnxModel):
    """An exported embedding network run by ONNX Runtime: images -> embeddings (N, D); `spec` is its backbone's."""

    spec_type = ModelSpec


def network_of(info: dict) -> dict:
    """The SimilarityNet description (`describe()`) an export's info holds."""
    return {"spec": info["spec"], "method": info["method"], "embedding_dim": info["embedding_dim"]}


def load_exported(path: str | Path) -> tuple[nn.Module, dict]:
    """The embedding network of a similarity export (a SimilarityNet, or an OnnxEmbedding called alike) and what
    the export says about itself; ExportError for a file that is not one."""
    if Path(path).suffix.lower() == ".onnx":
        model = OnnxEmbedding.load(path, "similarity")
        return model, model.info
    state, info = read_safetensors(path, "similarity")
    net: SimilarityNet = rebuilt(Path(path), lambda: similarity_net_from(network_of(info)), state)
    return net, info
