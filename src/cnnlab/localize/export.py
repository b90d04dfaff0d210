"""`cnnlab export` of a localize run: the localizer (single head or grid detector) as ONNX or safetensors, its
preprocessing inside and its classes, box format and decoding in the metadata, proven to give the run's boxes and
classes on its stored test split before it is kept (PATH.parity.json)."""

from __future__ import annotations

from pathlib import Path

import torch

from cnnlab.cliutil import fresh_path
from cnnlab.data.boxes.frame import PAD
from cnnlab.localize.detect import IOU_THRESHOLD, MAX_BOXES, SCORE_THRESHOLD
from cnnlab.localize.exported import OUTPUTS, LocalizerGraph, load_exported
from cnnlab.localize.metrics import paired_iou
from cnnlab.localize.model import Localizer
from cnnlab.localize.predict import load_localizer
from cnnlab.models.export import check_options, export_info
from cnnlab.models.export_check import ExportJob, export_checked, paired_outputs

PARITY_IMAGES = 1000  # test images the export is checked on
MIN_MEAN_IOU = 0.999  # mean IoU between the runtimes' boxes
BOX_FORMAT = "xyxy: x0, y0, x1, y1 as fractions of the image's width and height (times them for pixels)"
LETTERBOX_FORMAT = ("xyxy: x0, y0, x1, y1 as fractions of the S x S input square; for the image's own pixels "
                    "subtract the border (left, top) and divide by the scale, then clip to the image")
RESIZE = {"stretch": "each side of the image resized (bilinear) to S",
          "letterbox": f"the longer side resized (bilinear) to S, the aspect kept: scale = S / max(width, height), "
                       f"scaled size round(width * scale) x round(height * scale), placed at left = (S - scaled "
                       f"width) // 2, top = (S - scaled height) // 2 on a square of gray {PAD} (of 255)"}


def describe(model: Localizer, classes: list[str], run: str, resize: str = "stretch") -> dict:
    """What an exported localizer is, takes and puts out, how images go into it and how its outputs become
    boxes."""
    spec, backbone = model.spec, model.backbone
    g = spec.grid
    if spec.head == "single":
        outputs = {"logits": "float32 (N, K): class logits of the image's one object, K = classes",
                   "boxes": "float32 (N, 4): its box"}
        decode = {"class": "argmax of logits; its score is the softmax's largest value"}
    else:
        outputs = {"grid": f"float32 (N, 5 + K, {g}, {g}): per cell the objectness logit, K class logits and the "
                           "box (tx, ty, tw, th), raw",
                   "boxes": f"float32 (N, {g * g}, 4): every cell's box, cells row by row",
                   "scores": f"float32 (N, {g * g}, K): sigmoid(objectness) x softmax(class logits) per cell"}
        decode = {"grid": g, "cell_box": f"centre ((col + sigmoid(tx)) / {g}, (row + sigmoid(ty)) / {g}), size "
                                         f"exp(min(tw, ln {g})) / {g} by exp(min(th, ln {g})) / {g}",
                  "keep": f"each cell's best class and score; cells scoring at least {SCORE_THRESHOLD} (cnnlab "
                          "predict draws those at least --score, 0.3), and always the best cell",
                  "nms": f"per class, IoU {IOU_THRESHOLD} (torchvision batched_nms); at most {MAX_BOXES} boxes, best "
                         "first"}
    return export_info("localize", run, channels=backbone.spec.in_channels, image_size=backbone.spec.image_size,
                       mean=backbone.mean.flatten().tolist(), std=backbone.std.flatten().tolist(), classes=classes,
                       spec=spec.to_dict(), head=spec.head, resize=resize, resize_how=RESIZE[resize],
                       box_format=BOX_FORMAT if resize == "stretch" else LETTERBOX_FORMAT, outputs=outputs,
                       decode=decode)


def cells(out: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Exported outputs -> (boxes (N, P, 4), class scores (N, P, K)): the single head's one box per image, or every
    cell of the grid."""
    if len(out) == 2:
        logits, boxes = out
        return boxes.float()[:, None], torch.softmax(logits.float(), 1)[:, None]
    return out[1].float(), out[2].float()


def box_parity(reference, candidate, images: torch.Tensor) -> dict:
    """Boxes and classes of `candidate` vs `reference`, compared where the reference would show a box: its one box
    per image (single head), or each cell scoring at least the decoding threshold and each image's best cell
    (detector). IoU of each pair (mean and least), class agreement, largest score and box differences."""
    ious, agree, score_diff, box_diff = [], 0, 0.0, 0.0
    for ref, cand in paired_outputs(reference, candidate, images):
        (box_a, score_a), (box_b, score_b) = cells(ref), cells(cand)
        best = score_a.max(2).values  # (N, P)
        shown = (best >= SCORE_THRESHOLD) | (best == best.max(1, keepdim=True).values)
        a, b = box_a[shown], box_b[shown]  # (M, 4)
        iou = paired_iou(a, b)
        same = (a - b).abs().amax(1) <= 1e-6
        ious.append(torch.where(torch.isnan(iou), same.float(), iou))  # empty boxes: equal or not
        agree += int((score_a[shown].argmax(1) == score_b[shown].argmax(1)).sum())
        score_diff = max(score_diff, float((score_a - score_b).abs().max()))
        box_diff = max(box_diff, float((a - b).abs().max()) if len(a) else 0.0)
    iou = torch.cat(ious) if ious else torch.ones(0)
    return {"images": len(images), "boxes": len(iou), "mean_box_iou": float(iou.mean()) if len(iou) else 1.0,
            "min_box_iou": float(iou.min()) if len(iou) else 1.0, "class_agreement": agree / max(len(iou), 1),
            "max_abs_score_diff": score_diff, "max_abs_box_diff": box_diff}


def judge(figures: dict) -> list[str]:
    problems = []
    if not figures["mean_box_iou"] >= MIN_MEAN_IOU:
        problems.append(f"mean box IoU {figures['mean_box_iou']:.4f} (least {figures['min_box_iou']:.4f}) over "
                        f"{figures['boxes']} boxes of {figures['images']} images (needs at least {MIN_MEAN_IOU})")
    if not figures["class_agreement"] >= 1.0:
        problems.append(f"class agreement {figures['class_agreement']:.2%} of {figures['boxes']} boxes (needs 100%)")
    return problems


def said(figures: dict) -> str:
    return (f"box IoU {figures['mean_box_iou']:.5f} on average (least {figures['min_box_iou']:.5f}) and class "
            f"agreement {figures['class_agreement']:.2%} over {figures['boxes']} boxes of {figures['images']} "
            f"{figures['split']} images")


def export_run(run: str | Path, fmt: str, out: str | Path | None = None, *, opset: int = 18,
               dynamic_batch: bool = True) -> dict:
    """Export the run's best localizer to `out` (default RUN/export/model.onnx or model.safetensors; an existing
    file is never replaced: model-2...) and check it on the run's stored test split (its validation split when it
    has no test images); returns the path and the parity figures, also written beside it."""
    from cnnlab.localize.training import load_box_data, split_data

    check_options(fmt, opset, out)
    folder, cfg, model, classes = load_localizer(run)
    parts = split_data(load_box_data(cfg, log=lambda message: None, classes=classes)[0],
                       folder.read_json("splits.json"))
    split = "test" if len(parts["test"]) else "val"
    images = parts[split].images[:PARITY_IMAGES].float() / 255  # (N, C, S, S) as the localizer takes them
    path = fresh_path(Path(out) if out else folder.path / "export" / f"model.{fmt}")
    job = ExportJob("localize", LocalizerGraph(model), OUTPUTS[model.spec.head], describe(model, classes,
                    folder.path.name, cfg.resize), images, split, lambda file: LocalizerGraph(load_exported(file)[0]),
                    box_parity, judge, said, weights=model)
    return export_checked(job, fmt, path, opset=opset, dynamic_batch=dynamic_batch)
