"""Issue 5's CPU benchmarks.

    python -m bench.similarity_cpu --shared ../shared/data [--only fashion,index,tsne] [--epochs 10]

fashion: Recall@1/5/10 and mAP@R on the Fashion-MNIST files (test images searched among the training
    images) for raw pixels, the untrained densenet-seed, the Siamese model and the metric-learning model.
index: 50,000 gallery vectors (CIFAR-10 training images embedded by a briefly trained metric model) and
    10,000 queries (the test images): build time, queries per second and Recall@10 against exact search,
    for faiss flat (exact), HNSW and IVF, and scikit-learn's NearestNeighbors brute force, in one run.
tsne: scikit-learn t-SNE time for 10,000 points (the test embeddings above).

Writes bench/out/similarity_cpu.json and prints markdown tables for docs/benchmarks.md.

--smoke (CI): one epoch each on tiny built-in data (bench/smoke.py), fashion-cnn in place of densenet-seed, in a
temporary folder.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from bench.classify_cpu import machine
from bench.smoke import add_smoke, smoke_data, smoke_out
from cnnlab.data.datasets import DataConfig, load_dataset
from cnnlab.index.core import EmbeddingIndex
from cnnlab.similarity.analysis import tsne_map
from cnnlab.similarity.config import SimilarityConfig
from cnnlab.similarity.embed import run_embedder
from cnnlab.similarity.evaluate import evaluate_runs
from cnnlab.similarity.training import train_similarity
from cnnlab.train import FitConfig

OUT = Path(__file__).parent / "out"


def train(out: Path, data: DataConfig, method: str, model: str, epochs: int, name: str) -> dict:
    cfg = SimilarityConfig(data=data, model=model, method=method, fit=FitConfig(epochs=epochs),
                           runs_dir=str(out / "runs"), name=name)
    result = train_similarity(cfg, overwrite=True)
    return {"run": str(result.run.path), "train_s": result.summary["train_seconds"], "epochs": epochs}


def bench_fashion(out: Path, shared: Path, epochs: int, model: str = "densenet-seed") -> dict:
    data = DataConfig("fashion-mnist", str(shared / "fashion-mnist-subset"))
    runs = [train(out, data, method, model, epochs, f"bench-{method}") for method in ("siamese", "metric")]
    rows = evaluate_runs([r["run"] for r in runs], out / "similarity-fashion")
    return {"runs": runs, "rows": rows}


def gallery_vectors(out: Path, shared: Path, epochs: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                                      dict]:
    data = DataConfig("cifar10", str(shared / "cifar10-jpeg"), val_fraction=0.02)
    info = train(out, data, "metric", "baseline-cnn", epochs, "bench-cifar-metric")
    splits = load_dataset(data)
    embedder = run_embedder(info["run"], "cpu")
    start = time.perf_counter()
    gallery = np.concatenate([embedder.embed_data(splits.train), embedder.embed_data(splits.val)])
    labels = np.concatenate([splits.train.labels.numpy(), splits.val.labels.numpy()])
    queries = embedder.embed_data(splits.test)
    info["embed_s"] = time.perf_counter() - start
    return gallery, labels, queries, splits.test.labels.numpy(), info


def time_it(fn, repeat: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def bench_index(gallery: np.ndarray, queries: np.ndarray, k: int = 10) -> list[dict]:
    from sklearn.neighbors import NearestNeighbors

    rows, exact_ids = [], None
    for kind in ("flat", "hnsw", "ivf"):
        def build(kind=kind):
            index = EmbeddingIndex.create(gallery.shape[1], {"kind": "bench"}, kind=kind, n_expected=len(gallery))
            if not index.index.is_trained:
                index.index.train(gallery)
            index.index.add(gallery)
            return index

        build_s, index = time_it(build, 1)
        search_s, (_, ids) = time_it(lambda index=index: index.search(queries, k))
        one_s, _ = time_it(lambda index=index: [index.search(q[None], k) for q in queries[:1000]], 1)
        exact_ids = ids if kind == "flat" else exact_ids
        rows.append({"search": f"faiss {kind}", "build_s": build_s, "batch_qps": len(queries) / search_s,
                     "single_qps": 1000 / one_s, "recall@10_vs_exact": overlap(ids, exact_ids)})
    nn = NearestNeighbors(n_neighbors=k, algorithm="brute", metric="cosine")
    build_s, _ = time_it(lambda: nn.fit(gallery), 1)
    search_s, (_, ids) = time_it(lambda: nn.kneighbors(queries), 1)
    one_s, _ = time_it(lambda: [nn.kneighbors(q[None]) for q in queries[:200]], 1)
    rows.append({"search": "scikit-learn NearestNeighbors brute (cosine)", "build_s": build_s,
                 "batch_qps": len(queries) / search_s, "single_qps": 200 / one_s,
                 "recall@10_vs_exact": overlap(ids, exact_ids)})
    return rows


def overlap(ids: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(ids, truth, strict=True)]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--only", default="fashion,index,tsne")
    parser.add_argument("--epochs", type=int, default=10)
    add_smoke(parser)
    args = parser.parse_args()
    out, fashion_model = OUT, "densenet-seed"
    if args.smoke:
        out, fashion_model = smoke_out(), "fashion-cnn"  # densenet-seed is smoked by bench.speed
        args.shared, args.epochs = smoke_data(out), 1
    torch.manual_seed(0)
    results: dict = {"machine": machine(), "date": time.strftime("%Y-%m-%d")}
    only = args.only.split(",")
    if "fashion" in only:
        results["fashion"] = bench_fashion(out, args.shared, args.epochs, fashion_model)
        print("| embedding | Recall@1 | Recall@5 | Recall@10 | mAP@R |\n| --- | --- | --- | --- | --- |")
        for r in results["fashion"]["rows"]:
            print(f"| {r['embedding']} | {r['recall@1']:.2%} | {r['recall@5']:.2%} | {r['recall@10']:.2%} | "
                  f"{r['map@r']:.3f} |")
    if "index" in only or "tsne" in only:
        gallery, _, queries, query_labels, info = gallery_vectors(out, args.shared, min(2, args.epochs))
        results["vectors"] = {**info, "gallery": gallery.shape, "queries": queries.shape}
        if "index" in only:
            results["index"] = bench_index(gallery, queries)
            print("| search | build s | queries/s (batch of 10,000) | queries/s (one at a time) | Recall@10 vs exact |")
            print("| --- | --- | --- | --- | --- |")
            for r in results["index"]:
                print(f"| {r['search']} | {r['build_s']:.3f} | {r['batch_qps']:,.0f} | {r['single_qps']:,.0f} | "
                      f"{r['recall@10_vs_exact']:.3f} |")
        if "tsne" in only:
            _, seconds = tsne_map(queries[:10_000], seed=0)
            results["tsne"] = {"points": min(10_000, len(queries)), "seconds": seconds}
            print(f"t-SNE of {results['tsne']['points']} points: {seconds:.1f} s")
    out.mkdir(parents=True, exist_ok=True)
    (out / "similarity_cpu.json").write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
