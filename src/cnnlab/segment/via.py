"""VGG Image Annotator (VIA) projects and exports to mask PNGs: polygons, polylines, rectangles, circles,
ellipses (and points, drawn as small discs); a region attribute names the class."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

from PIL import Image, ImageDraw

from cnnlab.errors import DataError


def via_images(project: dict) -> list[dict]:
    """The per-image entries of a VIA 2 project (`_via_img_metadata`) or a VIA 1/2 region export."""
    entries = project.get("_via_img_metadata", project)
    if not isinstance(entries, dict) or not all(isinstance(e, dict) and "filename" in e for e in entries.values()):
        raise DataError("not a VIA project or export: expected entries with 'filename' and 'regions'")
    return list(entries.values())


def region_class(region: dict, attribute: str) -> str:
    attrs = region.get("region_attributes") or {}
    value = attrs.get(attribute)
    if isinstance(value, dict):  # checkbox attributes: {"cat": true}
        value = next((k for k, v in value.items() if v), None)
    if not value:
        raise DataError(f"a region has no '{attribute}' attribute (it has {sorted(attrs) or 'none'}); "
                        "pass --attribute with the name your project uses")
    return str(value)


def draw_region(draw: ImageDraw.ImageDraw, shape: dict, value: int, filename: str) -> None:
    kind = shape.get("name")
    if kind in ("polygon", "polyline"):
        points = list(zip(shape.get("all_points_x", []), shape.get("all_points_y", []), strict=False))
        if len(points) < (3 if kind == "polygon" else 2):
            raise DataError(f"{filename}: a {kind} with {len(points)} points is empty")
        if kind == "polygon":
            draw.polygon(points, fill=value)
        else:
            draw.line(points, fill=value, width=3)
    elif kind == "rect":
        x, y, w, h = (shape[k] for k in ("x", "y", "width", "height"))
        draw.rectangle([x, y, x + w - 1, y + h - 1], fill=value)
    elif kind == "circle":
        cx, cy, r = shape["cx"], shape["cy"], shape["r"]
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=value)
    elif kind == "ellipse":
        cx, cy, rx, ry, theta = shape["cx"], shape["cy"], shape["rx"], shape["ry"], shape.get("theta", 0.0)
        steps = 64
        points = [(cx + rx * math.cos(t) * math.cos(theta) - ry * math.sin(t) * math.sin(theta),
                   cy + rx * math.cos(t) * math.sin(theta) + ry * math.sin(t) * math.cos(theta))
                  for t in (2 * math.pi * i / steps for i in range(steps))]
        draw.polygon(points, fill=value)
    elif kind == "point":
        draw.ellipse([shape["cx"] - 2, shape["cy"] - 2, shape["cx"] + 2, shape["cy"] + 2], fill=value)
    else:
        raise DataError(f"{filename}: unknown VIA region shape {kind!r}")


def via_to_masks(project_path: str | Path, images: str | Path, out: str | Path, attribute: str = "class") -> Path:
    """Write out/images/* (copies) and out/masks/*.png (0 = background, then classes in sorted order) and
    out/classes.txt, a folder `cnnlab segment train --data folder:OUT` reads. Returns out."""
    project = json.loads(Path(project_path).read_text())
    entries = via_images(project)
    images, out = Path(images), Path(out)
    missing = [e["filename"] for e in entries if not (images / e["filename"]).is_file()]
    if missing:
        raise DataError(f"{len(missing)} images named in {project_path} are not in {images}: {', '.join(missing[:5])}")
    regions = lambda e: e["regions"].values() if isinstance(e["regions"], dict) else e["regions"]  # noqa: E731
    classes = ["background"] + sorted({region_class(r, attribute) for e in entries for r in regions(e)})
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    for entry in entries:
        with Image.open(images / entry["filename"]) as img:
            mask = Image.new("L", img.size, 0)
        shutil.copy2(images / entry["filename"], out / "images" / entry["filename"])
        draw = ImageDraw.Draw(mask)
        for region in regions(entry):
            draw_region(draw, region["shape_attributes"], classes.index(region_class(region, attribute)),
                        entry["filename"])
        mask.save(out / "masks" / f"{Path(entry['filename']).stem}.png")
    (out / "classes.txt").write_text("\n".join(classes) + "\n")
    return out
