"""An export proven equal to its model before it is kept: the file is written, read back (ONNX Runtime, or the
model rebuilt from safetensors alone), run beside the PyTorch model on real images of the run, and the figures
are saved beside it (PATH.parity.json). A task's room says what goes into the file and how close is close
enough (an ExportJob); this module does the rest, alike for every task."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from cnnlab import atomic
from cnnlab.models.export import ExportError, OnnxModel, sidecar, to_onnx, to_safetensors

MAX_LOGIT_DIFF = 1e-3  # classifier parity: largest |ONNX Runtime - PyTorch| logit allowed


@dataclass
class ExportJob:
    """What a room hands over: the module that goes into the file and the check the file must pass."""

    task: str
    module: nn.Module  # float images (N, C, S, S) in [0, 1] -> a tensor, or a tuple of tensors named `outputs`
    outputs: tuple[str, ...]
    info: dict  # what the export is and takes (cnnlab.models.export.export_info): ONNX metadata, JSON beside
    images: torch.Tensor  # real images (N, C, S, S) in [0, 1] of the run, to check the export on
    split: str  # which of the run's images they are
    rebuild: Callable[[Path], nn.Module]  # a safetensors file -> the module rebuilt from it (and its JSON) alone
    measure: Callable[[nn.Module, Callable, torch.Tensor], dict]  # (reference, candidate, images) -> figures
    judge: Callable[[dict], list[str]]  # the figures beyond tolerance, in words; [] when the export passes
    said: Callable[[dict], str]  # the figures in one line for the console
    weights: nn.Module | None = None  # whose state dict goes into safetensors, when not `module`'s (a wrapper's)


def paired_outputs(reference, candidate, images: torch.Tensor, batch: int = 64) -> Iterator[tuple]:
    """(reference output, candidate output) per batch of `images`, without gradients; each output a tensor or a
    tuple of them, as the modules give."""
    with torch.no_grad():
        for i in range(0, len(images), batch):
            x = images[i:i + batch]
            yield reference(x), candidate(x)


def export_checked(job: ExportJob, fmt: str, path: Path, *, opset: int = 18, dynamic_batch: bool = True) -> dict:
    """Write `job.module` to `path` as `fmt` and check it; returns the path, the figures and a line saying them.
    ExportError (the file removed, the figures kept in PATH.parity.json) when it differs beyond tolerance."""
    if not len(job.images):
        raise ExportError(f"the run has no {job.split} images to check an export on; an export is kept only once it "
                          "has given the run's own results on real images")
    path.parent.mkdir(parents=True, exist_ok=True)
    job.module.eval()
    written = [path]
    try:
        if fmt == "onnx":
            to_onnx(job.module, path, job.info, opset=opset, dynamic_batch=dynamic_batch, outputs=job.outputs)
            candidate = OnnxModel.load(path, job.task)
        else:
            written.append(to_safetensors(job.weights or job.module, path, job.info))
            candidate = job.rebuild(path)
        figures = job.measure(job.module, candidate, job.images)
        problems = job.judge(figures)
    except BaseException:
        for file in written:
            file.unlink(missing_ok=True)
        raise
    figures = {"format": fmt, "runtime": "onnxruntime" if fmt == "onnx" else "pytorch (rebuilt from the file)",
               "split": job.split, **figures, "passed": not problems}
    report = sidecar(path, ".parity.json")
    atomic.write_text(report, json.dumps(figures, indent=2))
    if problems:
        for file in written:
            file.unlink(missing_ok=True)
        raise ExportError(f"the export differs from the model: {'; '.join(problems)}; it was not kept (the figures "
                          f"are in {report})")
    return {"path": str(path), "said": job.said(figures), **figures}


def parity(reference: nn.Module, candidate, images: torch.Tensor, batch: int = 64) -> dict:
    """Logits of `candidate` vs `reference` on images (N, C, S, S) in [0, 1]: the largest absolute difference
    and the share of images whose top-1 class agrees."""
    diffs, agree = [0.0], 0
    for a, b in paired_outputs(reference, candidate, images, batch):
        a, b = a.float(), b.float()
        diffs.append(float((a - b).abs().max()))
        agree += int((a.argmax(1) == b.argmax(1)).sum())
    return {"images": len(images), "max_abs_logit_diff": max(diffs), "top1_agreement": agree / max(len(images), 1)}


def judge_classifier(figures: dict) -> list[str]:
    """A classifier export passes with every top-1 class equal and every logit within MAX_LOGIT_DIFF."""
    if figures["top1_agreement"] < 1.0 or figures["max_abs_logit_diff"] > MAX_LOGIT_DIFF:
        return [f"top-1 agreement {figures['top1_agreement']:.2%} on {figures['images']} images, largest logit "
                f"difference {figures['max_abs_logit_diff']:.2e} (allowed: 100%, {MAX_LOGIT_DIFF})"]
    return []
