"""Comparisons and maps from finished runs and index folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from cnnlab.checks import check_number
from cnnlab.data.datasets import load_dataset
from cnnlab.errors import DataError, RunFolderError
from cnnlab.index.core import EmbeddingIndex
from cnnlab.index.embedders import Embedder, PixelEmbedder
from cnnlab.similarity.analysis import compare_embedders, tsne_map, two_class_scores
from cnnlab.similarity.config import SimilarityConfig
from cnnlab.similarity.embed import NetworkEmbedder, load_run_network
from cnnlab.similarity.model import SimilarityNet, similarity_net_from
from cnnlab.similarity.plots import plot_retrieval_curves, plot_tsne, plot_two_classes
from cnnlab.train import RunDir, resolve_device

MIN_TSNE_POINTS = 5  # t-SNE's perplexity needs a few neighbours
MAX_TSNE_POINTS = 100_000  # beyond this a map takes hours on a CPU and shows nothing more


def untrained_like(net: SimilarityNet, seed: int = 0) -> SimilarityNet:
    """The same network freshly initialised, keeping the trained one's input normalisation."""
    torch.manual_seed(seed)
    fresh = similarity_net_from(net.describe())
    fresh.backbone.mean.copy_(net.backbone.mean)
    fresh.backbone.std.copy_(net.backbone.std)
    return fresh


def evaluate_runs(runs: list[str], out: Path, device: str = "auto", progress=None) -> list[dict]:
    """One table: raw pixels, the untrained first network, then each run; test split searched among the
    training split of the runs' (shared) dataset. Writes evaluation.json and retrieval.png to `out`."""
    configs = [SimilarityConfig.from_dict(RunDir.open(r).read_json("config.json")) for r in runs]
    if len({json.dumps(c.data.__dict__, sort_keys=True) for c in configs}) > 1:
        raise RunFolderError("the runs were trained on different data; evaluate runs of one dataset together")
    data = load_dataset(configs[0].data)
    dev = resolve_device(device)
    nets = [load_run_network(r)[0] for r in runs]
    embedders: dict[str, Embedder] = {
        "raw pixels": PixelEmbedder(data.train.channels, data.train.size[0]),
        f"untrained {nets[0].backbone.spec.name}": NetworkEmbedder(untrained_like(nets[0], configs[0].fit.seed),
                                                                   device=dev),
    }
    for run, cfg, net in zip(runs, configs, nets, strict=True):
        embedders[f"{cfg.method} {net.backbone.spec.name} ({Path(run).name})"] = NetworkEmbedder(net, device=dev)
    rows, curves = compare_embedders(embedders, data.train, data.test, progress=progress)
    out.mkdir(parents=True, exist_ok=True)
    plot_retrieval_curves(curves, out / "retrieval.png")
    (out / "evaluation.json").write_text(json.dumps({"data": configs[0].data.name, "queries": len(data.test),
                                                     "gallery": len(data.train), "rows": rows}, indent=2))
    return rows


def index_vectors(index: EmbeddingIndex) -> np.ndarray:
    if index.kind == "ivf":
        index.index.make_direct_map()
    return index.index.reconstruct_n(0, len(index))


def index_tsne(folder: str, out: Path, *, points: int = 2000, thumbnails: bool = False, seed: int = 0
               ) -> tuple[float, int]:
    """t-SNE map of (a seeded sample of) an index's vectors; returns the t-SNE seconds and the point count."""
    check_number("points", points, low=MIN_TSNE_POINTS, high=MAX_TSNE_POINTS, integer=True)
    check_number("seed", seed, low=0, high=2**32 - 1, integer=True)
    index = EmbeddingIndex.load(folder)
    if len(index) < MIN_TSNE_POINTS:
        raise DataError(f"the index holds {len(index)} vectors; a t-SNE map needs at least {MIN_TSNE_POINTS}")
    pick = np.sort(np.random.default_rng(seed).permutation(len(index))[:points])
    vectors = index_vectors(index)[pick]
    xy, seconds = tsne_map(vectors, seed)
    labels = index.labels[pick]
    classes = index.classes or ["unlabelled"]
    labels = np.where(labels < 0, 0, labels) if not index.classes else labels
    plot_tsne(xy, labels, classes, out, f"t-SNE of {len(pick)} vectors from {Path(folder).name} ({seconds:.1f} s)",
              thumbs=np.asarray(index.thumbs[pick]) if thumbnails else None)
    return seconds, len(pick)


def two_class_diagram(run: str, class_a: str, class_b: str, out: Path, *, n_refs: int = 10,
                      device: str = "auto") -> None:
    check_number("refs", n_refs, low=1, high=10_000, integer=True)
    cfg = SimilarityConfig.from_dict(RunDir.open(run).read_json("config.json"))
    data = load_dataset(cfg.data)
    for name in (class_a, class_b):
        if name not in data.classes:
            raise DataError(f"no class {name!r}; the classes are {', '.join(data.classes)}")
    a, b = data.classes.index(class_a), data.classes.index(class_b)
    net = load_run_network(run)[0]
    dev = resolve_device(device)
    sa, sb = two_class_scores(net.to(dev), data.test, data.train, a, b, dev, n_refs=n_refs, seed=cfg.fit.seed)
    plot_two_classes(sa, sb, data.test.labels.numpy(), data.classes, class_a, class_b, out)
