"""`cnnlab export` of a similarity run: its embedding network (images -> L2-normalised vectors) as ONNX or
safetensors, the preprocessing inside and the method, embedding size and training classes in the metadata, proven
to give the run's embeddings and nearest neighbours on its own test images before it is kept (PATH.parity.json)."""

from __future__ import annotations

from pathlib import Path

import torch

from cnnlab.cliutil import fresh_path
from cnnlab.data.datasets import load_run_dataset
from cnnlab.data.images import convert_channels, resize
from cnnlab.models.export import check_options, export_info
from cnnlab.models.export_check import ExportJob, export_checked, paired_outputs
from cnnlab.similarity.config import SimilarityConfig
from cnnlab.similarity.embed import load_run_network
from cnnlab.similarity.exported import load_exported
from cnnlab.similarity.model import SimilarityNet
from cnnlab.train.run import RunDir

PARITY_IMAGES = 1000  # test images the export is checked on, each also searched among the others
MAX_EMBEDDING_DIFF = 1e-3  # largest |ONNX Runtime - PyTorch| embedding component allowed
TIE = 1e-5  # neighbours whose cosines differ by less are equally near: either choice agrees


def describe(net: SimilarityNet, classes: list[str], run: str) -> dict:
    """What an exported embedding network is, takes and puts out."""
    backbone = net.backbone
    spec = backbone.spec
    return export_info("similarity", run, channels=spec.in_channels, image_size=spec.image_size,
                       mean=backbone.mean.flatten().tolist(), std=backbone.std.flatten().tolist(), classes=classes,
                       spec=spec.to_dict(), method=net.method, embedding_dim=net.embedding_dim,
                       outputs={"embedding": f"float32 (N, {net.embedding_dim}): unit length, so the cosine "
                                             "similarity of two images is the dot product of their vectors"},
                       note="classes are those the network was trained on; an embedding serves any image")


def nearest_others(vectors: torch.Tensor) -> torch.Tensor:
    """(N, D) unit vectors -> (N, N) cosines, each image's own set to -inf (it is nobody's neighbour)."""
    cos = vectors @ vectors.T
    return cos.fill_diagonal_(float("-inf"))


def embedding_parity(reference, candidate, images: torch.Tensor) -> dict:
    """Embeddings of `candidate` vs `reference`: the largest absolute difference, the least cosine between the two
    runtimes' vectors of one image, and the share of images whose nearest other image (by the candidate's
    vectors) is the reference's nearest too (or as near, within TIE)."""
    pairs = list(paired_outputs(reference, candidate, images))
    a = torch.cat([p[0].float() for p in pairs]) if pairs else torch.zeros(0, 1)
    b = torch.cat([p[1].float() for p in pairs]) if pairs else torch.zeros(0, 1)
    diff = float((a - b).abs().max()) if len(a) else 0.0
    agree = 0
    if len(a) > 1:
        cos = nearest_others(a.clone())
        chosen = nearest_others(b.clone()).argmax(1)
        agree = int((cos.gather(1, chosen[:, None])[:, 0] >= cos.max(1).values - TIE).sum())
    return {"images": len(a), "max_abs_embedding_diff": diff,
            "min_cosine_between_runtimes": float((a * b).sum(1).min()) if len(a) else 1.0,
            "top1_neighbour_agreement": agree / len(a) if len(a) > 1 else 1.0}


def judge(figures: dict) -> list[str]:
    problems = []
    if not figures["max_abs_embedding_diff"] <= MAX_EMBEDDING_DIFF:
        problems.append(f"largest embedding difference {figures['max_abs_embedding_diff']:.2e} on {figures['images']} "
                        f"images (allowed: {MAX_EMBEDDING_DIFF})")
    if not figures["top1_neighbour_agreement"] >= 1.0:
        problems.append(f"nearest-neighbour agreement {figures['top1_neighbour_agreement']:.2%} (needs 100%)")
    return problems


def said(figures: dict) -> str:
    return (f"nearest-neighbour agreement {figures['top1_neighbour_agreement']:.2%} with the run's model on "
            f"{figures['images']} test images, largest embedding difference {figures['max_abs_embedding_diff']:.1e}")


def export_run(run: str | Path, fmt: str, out: str | Path | None = None, *, opset: int = 18,
               dynamic_batch: bool = True) -> dict:
    """Export the run's best embedding network to `out` (default RUN/export/model.onnx or model.safetensors; an
    existing file is never replaced: model-2...) and check it on the run's test images; returns the path and the
    parity figures, also written beside it (model.onnx.parity.json)."""
    check_options(fmt, opset, out)
    folder = RunDir.open(run, task="similarity")
    cfg = SimilarityConfig.from_dict(folder.read_json("config.json"))
    net, ckpt, _ = load_run_network(folder.path)
    net.eval()
    channels, size, _ = net.backbone.input_size
    test = load_run_dataset(folder, cfg.data).test
    images = convert_channels(resize(test.images[:PARITY_IMAGES], size), channels).float() / 255  # (N, C, S, S)
    path = fresh_path(Path(out) if out else folder.path / "export" / f"model.{fmt}")
    job = ExportJob("similarity", net, ("embedding",), describe(net, [str(c) for c in ckpt.get("classes", [])],
                    folder.path.name), images, "test", lambda file: load_exported(file)[0], embedding_parity, judge,
                    said)
    return export_checked(job, fmt, path, opset=opset, dynamic_batch=dynamic_batch)
