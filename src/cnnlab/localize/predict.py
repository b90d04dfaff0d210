"""A trained localizer on new images: boxes drawn on each image at its own size and a COCO-style JSON; and the
judgement of a run on its own test split or on other boxed images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cnnlab.atomic import write_text
from cnnlab.checks import check_split
from cnnlab.cliutil import fresh_path
from cnnlab.data.boxes.frame import fit_image, from_frame, region
from cnnlab.data.folders import collect_image_paths
from cnnlab.data.inputs import as_tensor
from cnnlab.data.pixels import open_image
from cnnlab.errors import CnnlabError, DataError, RunFolderError
from cnnlab.localize.config import LocalizeConfig
from cnnlab.localize.draw import draw, labelled, save_png
from cnnlab.localize.exported import OnnxLocalizer, load_exported
from cnnlab.localize.model import Localizer, localizer_from_spec
from cnnlab.localize.steps import predict_boxes
from cnnlab.options import said
from cnnlab.train.device import resolve_device
from cnnlab.train.run import RunDir, open_trained, write_json_atomic


def load_localizer(run_path: str | Path) -> tuple[RunDir, LocalizeConfig, Localizer, list[str]]:
    """The best localizer of a localize run folder, its config and class names; RunFolderError otherwise."""
    run, cfg, ckpt = open_trained(run_path, "localize", LocalizeConfig.from_dict)
    try:
        model = localizer_from_spec(ckpt["spec"])
        model.load_state_dict(ckpt["model"])
        classes = [str(c) for c in ckpt["classes"]]
        if len(classes) != model.spec.num_classes:
            raise ValueError(f"{len(classes)} class names for {model.spec.num_classes} outputs")
    except (KeyError, TypeError, ValueError, RuntimeError, CnnlabError) as exc:
        raise RunFolderError(f"{run.best_checkpoint} is not a checkpoint of cnnlab localize ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0][:160] if str(exc) else ''})") from None
    return run, cfg, model.eval(), classes


SPLITS = ("test", "val", "train")


def evaluate_run(run_path: str | Path, data: str | None = None, out: str | Path | None = None,
                 device: str = "cpu", split: str | None = None) -> dict:
    """The run's best model judged on one of its stored splits (`split`; by default the test split, or val when
    the run holds no test images) or on `data` (FORMAT:PATH, every image of it)."""
    check_split(split, data, SPLITS)
    from dataclasses import replace

    from cnnlab.localize.evaluate import evaluate_boxes
    from cnnlab.localize.training import load_box_data, split_data

    run, cfg, model, classes = load_localizer(run_path)
    if data is None:
        parts = split_data(load_box_data(cfg, classes=classes)[0], run.read_json("splits.json"))
        judged = split or ("test" if len(parts["test"]) else "val")
        boxes = parts[judged]
        if not len(boxes):
            raise DataError(f"the run holds no {judged} images; evaluate another {said('split')}")
    else:
        judged, boxes = data, load_box_data(replace(cfg, data=data), classes=classes)[0]
    on = resolve_device(device)
    result = evaluate_boxes(model.to(on), boxes, on)
    result.pop("predictions")
    if out is not None:
        path = fresh_path(out)
        write_json_atomic(path, result)
    return {**result, "judged": judged}


def plan(inputs: list[str], out: Path) -> list[Path]:
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out} is a file; give a folder for the drawn images and predictions.json")
    unique: dict[Path, Path] = {}
    for path in collect_image_paths(inputs):
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


def load_model(path: str | Path, device: str = "cpu") -> tuple[Localizer | OnnxLocalizer, list[str], str]:
    """The localizer of a localize run folder (on `device`), or of a file `cnnlab export` wrote (model.onnx, run by
    ONNX Runtime on the CPU; model.safetensors with its JSON), its class names and how images go into its square
    (stretch or letterbox)."""
    if Path(path).suffix.lower() in (".onnx", ".safetensors"):
        model, classes, resize = load_exported(path)
    else:
        _, cfg, model, classes = load_localizer(path)
        resize = cfg.resize
    if isinstance(model, torch.nn.Module):
        model.to(resolve_device(device))
    return model, classes, resize


def model_input(img: Image.Image, side: int, channels: int, resize: str) -> torch.Tensor:
    """An image (mode L or RGB) as the localizer takes it: float (1, C, S, S) in [0, 1], stretched or letterboxed
    as the run was trained."""
    return as_tensor(fit_image(img, side, resize), channels)[None]


@torch.no_grad()
def boxes_of(model: Localizer | OnnxLocalizer, img: Image.Image, min_score: float, resize: str) -> tuple:
    """(boxes xyxy in [0, 1] of the image's own width and height, scores, labels), best first, of an image in the
    model's mode; the best box always, the others when they score at least `min_score`."""
    spec = model.spec.backbone
    side = spec["image_size"]
    x = model_input(img, side, spec["in_channels"], resize)
    device = next(model.parameters()).device if isinstance(model, torch.nn.Module) else torch.device("cpu")
    boxes, scores, labels = (t.cpu() for t in predict_boxes(model, x.to(device))[0])
    keep = scores >= min_score
    keep[0] = True  # the best box always, however unsure
    boxes = from_frame(boxes[keep], torch.tensor(region(img.width, img.height, side, resize)))
    return boxes, scores[keep], labels[keep]


def predict_file(model: Localizer | OnnxLocalizer, path: Path, min_score: float, resize: str
                 ) -> tuple[Image.Image, tuple]:
    """(the image as opened, its boxes xyxy in [0, 1] of its own size, scores and labels) for one file."""
    img = open_image(path, "L" if model.spec.backbone["in_channels"] == 1 else "RGB")
    return img, boxes_of(model, img, min_score, resize)


def predict_images(run_path: str | Path, inputs: list[str], out: str | Path, *, min_score: float = 0.3,
                   device: str = "cpu") -> tuple[Path, list[dict]]:
    """STEM_boxes.png for every image (boxes drawn at its own size) and one predictions.json (COCO style: images,
    annotations with bbox [x, y, width, height] in pixels and score, categories) in `out`, from the model of a
    localize run folder or an export of one; names that are taken get -2, -3, ... instead of replacing a file."""
    out = Path(out)
    paths = plan(inputs, out)
    model, classes, resize = load_model(run_path, device)
    out.mkdir(parents=True, exist_ok=True)
    images, annotations, rows = [], [], []
    for k, path in enumerate(paths):
        img, pred = predict_file(model, path, min_score, resize)
        width, height = img.size
        boxes, names = labelled(pred, classes, limit=len(pred[0]))
        picture = torch.from_numpy(np.asarray(img.convert("RGB")).copy()).permute(2, 0, 1)
        drawn = save_png(draw(picture, None, [], boxes, names, width=max(2, min(width, height) // 150)),
                         fresh_path(out / f"{path.stem}_boxes.png"))
        images.append({"id": k + 1, "file_name": str(path), "width": width, "height": height})
        found = []
        for box, score, label in zip(*pred, strict=True):
            x0, y0, x1, y1 = (float(v) for v in box * torch.tensor([width, height, width, height]))
            annotations.append({"id": len(annotations) + 1, "image_id": k + 1, "category_id": int(label) + 1,
                                "bbox": [round(x0, 1), round(y0, 1), round(x1 - x0, 1), round(y1 - y0, 1)],
                                "score": round(float(score), 4)})
            found.append({"class": classes[int(label)], "score": float(score)})
        rows.append({"path": str(path), "drawn": str(drawn), "boxes": found})
    doc = {"images": images, "annotations": annotations,
           "categories": [{"id": i + 1, "name": c} for i, c in enumerate(classes)]}
    json_path = fresh_path(out / "predictions.json")
    write_text(json_path, json.dumps(doc, indent=1))
    return json_path, rows
