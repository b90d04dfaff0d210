"""VGG Image Annotator (VIA) projects and exports to mask PNGs: polygons, polylines, rectangles, circles,
ellipses (and points, drawn as small discs); a region attribute names the class.

A project is untrusted input. Every file name in it is confined to --images: one that leads elsewhere (through
'..', an absolute path or a symbolic link out of the folder) is refused by name, and files are written only
inside --out (each to a temporary file beside it, then renamed). The whole project is checked before anything
is written, and every error names the entry (and region) it is about.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from cnnlab.atomic import replacing
from cnnlab.data.folders import IMAGE_SUFFIXES, open_image
from cnnlab.errors import DataError

# The keys each VIA shape needs (VIA 2's shape_attributes).
SHAPES = {"polygon": ("all_points_x", "all_points_y"), "polyline": ("all_points_x", "all_points_y"),
          "rect": ("x", "y", "width", "height"), "circle": ("cx", "cy", "r"), "ellipse": ("cx", "cy", "rx", "ry"),
          "point": ("cx", "cy")}
COORD_LIMIT = 1_000_000  # pixels either way; Pillow's rasteriser fills wrongly far beyond (measured at 1e9)
MAX_CLASSES = 256  # background included: the values of an 8-bit mask
BACKGROUND = "background"


@dataclass
class Region:
    kind: str
    values: dict  # checked numbers: the shape's keys (polygon/polyline: "points", a list of (x, y))
    label: str  # the class name


@dataclass
class Entry:
    source: str  # the project file
    key: str
    filename: str
    regions: list[Region]

    @property
    def where(self) -> str:
        return f"{self.source}: entry {self.key!r} ({self.filename!r})"


def read_project(path: str | Path) -> object:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"VIA project {path} {'is not a file' if path.exists() else 'does not exist'}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise DataError(f"{path} is not a VIA project: it cannot be read as JSON ({exc})") from None


def via_entries(project: object, attribute: str, source: str = "the project") -> list[Entry]:
    """The per-image entries of a VIA 2 project (`_via_img_metadata`) or a VIA 1/2 region export, every
    region's shape and class checked."""
    entries = project.get("_via_img_metadata", project) if isinstance(project, dict) else project
    if isinstance(project, dict) and {"file", "metadata"} <= set(project):
        raise DataError(f"{source} looks like a VIA 3 project; save it from VIA 2 (Project > Save) or export the "
                        "annotations as JSON from VIA 2")
    if not isinstance(entries, dict) or not entries:
        raise DataError(f"{source} is not a VIA project or region export: expected a JSON object of image entries, "
                        "each with 'filename' and 'regions'")
    out = []
    for key, entry in entries.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str) or not entry["filename"]:
            raise DataError(f"{source}: entry {key!r} is not an image entry with a 'filename' and 'regions'")
        regions = entry.get("regions", [])
        regions = list(regions.values()) if isinstance(regions, dict) else regions
        item = Entry(source, str(key), entry["filename"], [])
        if not isinstance(regions, list):
            raise DataError(f"{item.where}: 'regions' must be a list of regions, got {regions!r:.60}")
        for i, region in enumerate(regions):
            where = f"{item.where}, region {i}"
            if not isinstance(region, dict) or not isinstance(region.get("shape_attributes"), dict):
                raise DataError(f"{where} has no 'shape_attributes' object")
            kind, values = check_shape(region["shape_attributes"], where)
            item.regions.append(Region(kind, values, region_class(region, attribute, where)))
        out.append(item)
    return out


def region_class(region: dict, attribute: str, where: str = "a region") -> str:
    attrs = region.get("region_attributes") or {}
    if not isinstance(attrs, dict):
        raise DataError(f"{where}: 'region_attributes' must be an object, got {attrs!r:.60}")
    value = attrs.get(attribute)
    if isinstance(value, dict):  # checkbox attributes: {"cat": true}
        value = next((k for k, v in value.items() if v), None)
    if isinstance(value, bool) or (isinstance(value, float) and not math.isfinite(value)):
        value = None
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"{where} has no '{attribute}' class name (its attributes: {sorted(attrs) or 'none'}); "
                        "pass --attribute with the name your project uses")
    if not value.strip().isprintable():
        raise DataError(f"{where}: the class name {value!r:.60} holds line breaks or control characters")
    return value.strip()


def _number(shape: dict, key: str, where: str, *, low: float = -COORD_LIMIT) -> float:
    value = shape[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DataError(f"{where}: {key} is {value!r:.40}; VIA coordinates are finite numbers of pixels")
    if not low <= value <= COORD_LIMIT:
        raise DataError(f"{where}: {key} is {value!r}, " + ("below 0" if low == 0 else
                        f"over {COORD_LIMIT:,} pixels from the image") + "; fix the region in VIA")
    return float(value)


def check_shape(shape: dict, where: str) -> tuple[str, dict]:
    """(kind, checked numbers) of a VIA shape_attributes object; DataError naming what is wrong."""
    kind = shape.get("name")
    if kind not in SHAPES:
        raise DataError(f"{where}: unknown VIA region shape {kind!r}; known: {', '.join(SHAPES)}")
    missing = [k for k in SHAPES[kind] if k not in shape]
    if missing:
        raise DataError(f"{where}: the {kind} has no {', '.join(missing)}")
    if kind in ("polygon", "polyline"):
        xs, ys = shape["all_points_x"], shape["all_points_y"]
        if not isinstance(xs, list) or not isinstance(ys, list) or len(xs) != len(ys):
            raise DataError(f"{where}: the {kind}'s all_points_x and all_points_y must be lists of equal length")
        points = [(_number({"all_points_x": x}, "all_points_x", where),
                   _number({"all_points_y": y}, "all_points_y", where)) for x, y in zip(xs, ys, strict=True)]
        if len(points) < (3 if kind == "polygon" else 2):
            raise DataError(f"{where}: a {kind} with {len(points)} points is empty")
        return kind, {"points": points}
    sizes = {"width", "height", "r", "rx", "ry"}
    values = {k: _number(shape, k, where, low=0 if k in sizes else -COORD_LIMIT) for k in SHAPES[kind]}
    if kind == "ellipse":
        values["theta"] = _number(shape, "theta", where) if "theta" in shape else 0.0
    return kind, values


def draw_region(draw: ImageDraw.ImageDraw, region: Region, value: int) -> None:
    kind, v = region.kind, region.values
    if kind == "polygon":
        draw.polygon(v["points"], fill=value)
    elif kind == "polyline":
        draw.line(v["points"], fill=value, width=3)
    elif kind == "rect":
        x, y = v["x"], v["y"]
        draw.rectangle([x, y, x + max(v["width"] - 1, 0), y + max(v["height"] - 1, 0)], fill=value)
    elif kind == "circle":
        cx, cy, r = v["cx"], v["cy"], v["r"]
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=value)
    elif kind == "ellipse":
        cx, cy, rx, ry, theta = v["cx"], v["cy"], v["rx"], v["ry"], v["theta"]
        steps = 64
        points = [(cx + rx * math.cos(t) * math.cos(theta) - ry * math.sin(t) * math.sin(theta),
                   cy + rx * math.cos(t) * math.sin(theta) + ry * math.sin(t) * math.cos(theta))
                  for t in (2 * math.pi * i / steps for i in range(steps))]
        draw.polygon(points, fill=value)
    else:  # point
        draw.ellipse([v["cx"] - 2, v["cy"] - 2, v["cx"] + 2, v["cy"] + 2], fill=value)


def confine(root: Path, entry: Entry) -> Path:
    """The file `entry` names inside the (resolved) folder `root`; anything outside it is refused by name."""
    try:
        path = (root / entry.filename).resolve()  # follows '..' and symbolic links
    except (OSError, RuntimeError, ValueError) as exc:
        raise DataError(f"{entry.where}: the file name cannot be used ({exc})") from None
    if path == root:
        raise DataError(f"{entry.where} names the --images folder itself, not an image in it")
    if not path.is_relative_to(root):
        raise DataError(f"{entry.where} leads outside --images {root}; only files inside that folder are read "
                        "(names with '..', absolute paths and symbolic links out of it are refused)")
    return path


def _write_atomic(out: Path, write) -> None:
    with replacing(out) as tmp:  # replaces a symbolic link at `out` itself, never the file it points to
        write(tmp)


def output_folder(out: Path, name: str) -> Path:
    """out/name, made if needed; refused when it is (or leads through a link to) somewhere outside out."""
    folder = out / name
    if folder.is_symlink():
        raise DataError(f"{folder} is a symbolic link; cnnlab writes only inside --out: choose another --out")
    if folder.exists() and not folder.is_dir():
        raise DataError(f"{folder} is a file; --out must be a new or earlier via-to-masks folder")
    folder.mkdir(parents=True, exist_ok=True)
    if not folder.resolve().is_relative_to(out.resolve()):
        raise DataError(f"{folder} leads outside --out {out} (a symbolic link); choose another --out")
    return folder


def clear_earlier_output(out: Path, overwrite: bool) -> None:
    """An --out that holds an earlier conversion is refused (two projects' masks would mix), or with
    `overwrite` emptied of what a conversion writes: images/ and masks/ (image files only) and classes.txt."""
    earlier = [out / n for n in ("images", "masks", "classes.txt") if (out / n).exists() or (out / n).is_symlink()]
    if not earlier:
        return
    if not overwrite:
        raise DataError(f"--out {out} already holds {', '.join(p.name for p in earlier)} (an earlier conversion?); "
                        "masks of two projects would mix: choose a new --out, or pass --overwrite to replace them")
    for folder in (out / "images", out / "masks"):
        if folder.is_dir() and not folder.is_symlink():
            files = list(folder.iterdir())
            if any(not f.is_file() or f.suffix.lower() not in IMAGE_SUFFIXES for f in files):
                raise DataError(f"{folder} holds more than image files; cnnlab does not delete it: clear it yourself")
            for f in files:
                f.unlink()
    (out / "classes.txt").unlink(missing_ok=True)


def _sources(entries: list, root: Path) -> tuple[list[tuple], list[str]]:
    """(entry, path, flat name, upright size) of each entry's image under `root`, and the file names missing."""
    sources, names, missing = [], {}, []
    for entry in entries:
        path = confine(root, entry)
        if not path.is_file():
            missing.append(entry.filename)
            continue
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise DataError(f"{entry.where} is not an image file cnnlab reads ({', '.join(sorted(IMAGE_SUFFIXES))})")
        name = "__".join(path.relative_to(root).parts)
        stem = Path(name).stem.casefold()
        if stem in names:  # masks pair with images by name, so two files may not share one
            raise DataError(f"{entry.where} and {names[stem].where} would both give masks/{Path(name).stem}.png; "
                            "rename one of the images (and its entry)")
        names[stem] = entry
        try:
            size = open_image(path).size  # upright (EXIF), as VIA showed it and as training reads it
        except DataError as exc:
            raise DataError(f"{entry.where}: {exc}") from None
        sources.append((entry, path, name, size))
    return sources, missing


def via_to_masks(project_path: str | Path, images: str | Path, out: str | Path, attribute: str = "class",
                 overwrite: bool = False) -> Path:
    """Write out/images/* (copies) and out/masks/*.png (0 = background, then classes in sorted order) and
    out/classes.txt, a folder `cnnlab segment train --data folder:OUT` reads. Returns out.

    An image in a subfolder of --images is written as SUB__NAME (the folder layout reads one flat folder).
    A region whose class is named 'background' is drawn as background."""
    images, out = Path(images), Path(out)
    if not images.is_dir():
        raise DataError(f"--images {images} {'is not a folder' if images.exists() else 'does not exist'}")
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out} is a file; give a folder")
    entries = via_entries(read_project(project_path), attribute, str(project_path))
    sources, missing = _sources(entries, images.resolve())
    if missing:
        raise DataError(f"{len(missing)} images named in {project_path} are not in {images}: {', '.join(missing[:5])}")
    classes = [BACKGROUND] + sorted({r.label for e in entries for r in e.regions} - {BACKGROUND})
    if len(classes) > MAX_CLASSES:
        raise DataError(f"{project_path} names {len(classes) - 1} classes; a mask holds at most {MAX_CLASSES - 1} "
                        f"(check --attribute {attribute!r}: it should name the class, not an id)")
    clear_earlier_output(out, overwrite)
    image_dir, mask_dir = output_folder(out, "images"), output_folder(out, "masks")
    for entry, path, name, size in sources:
        mask = Image.new("L", size, 0)
        draw = ImageDraw.Draw(mask)
        for region in entry.regions:
            draw_region(draw, region, classes.index(region.label))
        _write_atomic(image_dir / name, lambda tmp, src=path: shutil.copyfile(src, tmp))
        _write_atomic(mask_dir / f"{Path(name).stem}.png", lambda tmp, m=mask: m.save(tmp, format="PNG"))
    _write_atomic(out / "classes.txt", lambda tmp: tmp.write_text("\n".join(classes) + "\n", encoding="utf-8"))
    return out
