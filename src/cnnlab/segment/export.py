"""`cnnlab export` of a segment run: the U-Net as ONNX or safetensors, its normalisation inside and its classes
in the metadata, proven to give the run's masks on its held-out images before it is kept (PATH.parity.json).

Segment runs keep no test split: their validation images (the seeded split of the run's config, as training
drew it) are the images no weight was fitted to."""

from __future__ import annotations

from pathlib import Path

import torch

from cnnlab.cliutil import fresh_path
from cnnlab.models.export import check_options, export_info
from cnnlab.models.export_check import ExportJob, export_checked, paired_outputs
from cnnlab.segment.exported import load_exported
from cnnlab.segment.model import UNet
from cnnlab.segment.predict import open_unet

PARITY_IMAGES = 200  # validation images the export is checked on (every pixel of each)
MIN_MASK_AGREEMENT = 0.999  # share of pixels whose class must agree between the runtimes
MAX_LOGIT_DIFF = 1e-2  # largest |ONNX Runtime - PyTorch| logit allowed; looser than a classifier's 1e-3: a
# U-Net's logits come through encoder and decoder and are compared at every pixel


def describe(model: UNet, classes: list[str], run: str) -> dict:
    """What an exported U-Net is, takes and puts out, and how its output becomes a mask."""
    spec = model.spec
    size = spec.image_size
    return export_info(
        "segment", run, channels=spec.in_channels, image_size=size, mean=model.mean.flatten().tolist(),
        std=model.std.flatten().tolist(), classes=classes, spec=spec.to_dict(),
        outputs={"logits": f"float32 (N, K, {size}, {size}): per-pixel class logits, K = classes"},
        decode={"mask": "argmax over axis 1 of the logits: class indices into classes",
                "own_size": "cnnlab resizes an image (bilinear) to the input size, and the logits (bilinear, corners "
                            "not aligned) back to the image's size before the argmax"})


def mask_parity(reference, candidate, images: torch.Tensor) -> dict:
    """Logits (N, K, S, S) of `candidate` vs `reference`: the share of pixels whose class (argmax) agrees and the
    largest absolute logit difference."""
    agree, pixels, diff = 0, 0, 0.0
    for a, b in paired_outputs(reference, candidate, images, batch=16):
        a, b = a.float(), b.float()
        diff = max(diff, float((a - b).abs().max()))
        agree += int((a.argmax(1) == b.argmax(1)).sum())
        pixels += a[:, 0].numel()
    return {"images": len(images), "pixels": pixels, "mask_agreement": agree / max(pixels, 1),
            "max_abs_logit_diff": diff}


def judge(figures: dict) -> list[str]:
    problems = []
    if figures["mask_agreement"] < MIN_MASK_AGREEMENT:
        problems.append(f"mask agreement {figures['mask_agreement']:.3%} of {figures['pixels']:,} pixels on "
                        f"{figures['images']} images (needs at least {MIN_MASK_AGREEMENT:.1%})")
    if figures["max_abs_logit_diff"] > MAX_LOGIT_DIFF:
        problems.append(f"largest logit difference {figures['max_abs_logit_diff']:.2e} (allowed: {MAX_LOGIT_DIFF})")
    return problems


def said(figures: dict) -> str:
    return (f"mask agreement {figures['mask_agreement']:.3%} of {figures['pixels']:,} pixels with the run's model on "
            f"{figures['images']} validation images, largest logit difference {figures['max_abs_logit_diff']:.1e}")


def export_run(run: str | Path, fmt: str, out: str | Path | None = None, *, opset: int = 18,
               dynamic_batch: bool = True) -> dict:
    """Export the run's best U-Net to `out` (default RUN/export/model.onnx or model.safetensors; an existing file
    is never replaced: model-2...) and check it on the run's validation images; returns the path and the parity
    figures, also written beside it (model.onnx.parity.json)."""
    from cnnlab.segment.training import load_splits

    check_options(fmt, opset, out)
    folder, cfg, model, classes = open_unet(run)
    _, val = load_splits(cfg)
    images = val.images[:PARITY_IMAGES].float() / 255  # (N, C, S, S) as the U-Net takes them
    path = fresh_path(Path(out) if out else folder.path / "export" / f"model.{fmt}")
    job = ExportJob("segment", model, ("logits",), describe(model, classes, folder.path.name), images, "val",
                    lambda file: load_exported(file)[0], mask_parity, judge, said)
    return export_checked(job, fmt, path, opset=opset, dynamic_batch=dynamic_batch)
