"""The box side of `cnnlab data audit --task localize`: the boxed images of any box format, read as `cnnlab
localize train` reads them (the same split) except that a bad box is listed instead of ending the read: boxes
outside their image, empty or inverted ones, corners that are not numbers; images without boxes; the same box
twice on one image; boxes per class and per image, and their sizes (COCO's small, medium and large, and
relative to the image). Images go into the Scan for duplicates and leakage like any others; an image's label is
its most frequent box class."""

from __future__ import annotations

from collections import Counter

import numpy as np

from cnnlab.data.audit.scan import FileRows, Scan
from cnnlab.errors import ConfigError

KEY = "boxes"  # the audit's findings of this room, under this key of audit.json
SMALL, MEDIUM = 32**2, 96**2  # COCO's object areas in pixels: small below 32x32, large above 96x96
SAME_BOX = 0.95  # IoU above which two boxes of one class on one image count as the same box twice
SHOWN = 200  # findings listed per kind in the JSON (all are counted)


def prefixes() -> tuple[str, ...]:
    """The --data formats this room's audit reads."""
    from cnnlab.data.boxes import FORMATS

    return tuple(FORMATS)


def scan_data(spec: str, data_dir: str | None, seed: int, *, label: str = "species", attribute: str = "class",
              **_options) -> tuple[Scan, dict, dict]:
    """The audit's entry (see cnnlab.data.audit): the Scan, the checks, and each box's relative side for the
    report's histogram (not in the JSON)."""
    scan, found = scan_boxes(spec, seed, label=label, attribute=attribute)
    return scan, found, {"relative": found.pop("_relative")}


def scan_boxes(spec: str, seed: int, *, label: str = "species", attribute: str = "class",
               val_fraction: float = 0.15, test_fraction: float = 0.15) -> tuple[Scan, dict]:
    """The images of the box set `spec` (FORMAT:PATH) as a Scan split as training splits them, and the checks."""
    from cnnlab.data.boxes import FORMATS, check_box_spec, read_boxes
    from cnnlab.data.boxes.core import collecting_box_problems, upright_size
    from cnnlab.localize.training import split_rows

    if spec in ("digits", "digits-multi"):
        raise ConfigError(f"--data {spec} is drawn by cnnlab: nothing to audit; --task localize audits one of "
                          f"{', '.join(f'{k}:PATH' for k in FORMATS)}")
    check_box_spec(spec)
    with collecting_box_problems() as bad:
        boxes = read_boxes(spec, label=label, attribute=attribute)
    parts = split_rows(len(boxes), seed, val_fraction, test_fraction, spec)
    split = np.zeros(len(boxes), np.int64)
    for k, name in enumerate(("train", "val", "test")):
        split[parts[name]] = k
    index = {c: i for i, c in enumerate(boxes.classes)}
    root = _root(spec)
    rows = FileRows(spec, root, boxes.classes)
    per_class: Counter = Counter()
    per_image: Counter = Counter()
    areas: Counter = Counter()
    relative: list[float] = []
    doubled = []
    for k, item in enumerate(boxes.items):
        main = Counter(b.label for b in item.boxes).most_common(1)[0][0]
        if not rows.add(item.path, int(split[k]), index[main]):
            continue
        width, height = item.size or upright_size(item.path)
        per_image[len(item.boxes)] += 1
        for b in item.boxes:
            per_class[b.label] += 1
            area = (b.x1 - b.x0) * (b.y1 - b.y0)
            areas["small" if area < SMALL else "medium" if area <= MEDIUM else "large"] += 1
            relative.append(float(np.sqrt(area / max(width * height, 1))))
        doubled += [{"image": rows.scan.ids[-1], "label": a.label, "iou": round(iou, 3)}
                    for a, iou in _same_boxes(item.boxes)]
    scan = rows.done()
    kinds = Counter(p.kind for p in bad)
    return scan, {
        "images": len(scan.ids), "boxes": sum(per_class.values()),
        "per_class": {c: per_class[c] for c in boxes.classes},
        "per_image": {str(n): per_image[n] for n in sorted(per_image)},
        "areas": {k: areas[k] for k in ("small", "medium", "large")},
        "relative_side": _quantiles(relative),
        "left_out": [{"path": p, "why": w} for p, w in boxes.left_out[:SHOWN]], "left_out_count": len(boxes.left_out),
        "bad_boxes": [{"where": p.where, "label": p.label, "kind": p.kind, "message": p.message} for p in bad[:SHOWN]],
        "bad_box_kinds": dict(kinds), "bad_box_count": len(bad),
        "doubled_boxes": doubled[:SHOWN], "doubled_box_count": len(doubled),
        "notes": list(boxes.notes), "_relative": relative,
    }


def problems(boxes: dict) -> int:
    """Bad boxes and boxes given twice: what the annotation should fix (images without boxes are a choice)."""
    return boxes["bad_box_count"] + boxes["doubled_box_count"]


def _same_boxes(items) -> list[tuple[object, float]]:
    """(box, IoU) for each box that repeats an earlier box of its class on the image (IoU above SAME_BOX)."""
    if len(items) < 2:
        return []
    import torch
    from torchvision.ops import box_iou

    iou = box_iou(*[torch.tensor([[b.x0, b.y0, b.x1, b.y1] for b in items], dtype=torch.float64)] * 2)
    found = []
    for j, b in enumerate(items):
        same = [float(iou[i, j]) for i, a in enumerate(items[:j]) if a.label == b.label and iou[i, j] > SAME_BOX]
        if same:
            found.append((b, max(same)))
    return found


def _quantiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    q = np.quantile(np.asarray(values), [0.0, 0.1, 0.5, 0.9, 1.0])
    return {k: round(float(v), 4) for k, v in zip(("min", "p10", "median", "p90", "max"), q, strict=True)}


def _root(spec: str):
    """The folder the box set's files live in: the folder given, or the annotation file's own folder."""
    from pathlib import Path

    from cnnlab.data.boxes import FILE_FORMATS

    fmt, _, raw = spec.partition(":")
    path = Path(raw).expanduser()
    return path.parent if fmt in FILE_FORMATS else path
