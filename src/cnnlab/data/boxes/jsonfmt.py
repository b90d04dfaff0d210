"""Box annotations in JSON: COCO (images, annotations with bbox [x, y, w, h], categories) and VIA 2 projects or
region exports (rect regions; a region attribute names the class). File names are confined to the folder
of the JSON file (COCO also looks in its images/ subfolder)."""

from __future__ import annotations

from pathlib import Path

from cnnlab.data.boxes.core import BoxedImage, BoxSet, checked_box, confined, finish, read_json, upright_size
from cnnlab.errors import DataError
from cnnlab.options import said


def _coco_categories(data: dict, path: Path) -> dict[int, str]:
    cats = data.get("categories")
    if not isinstance(cats, list) or not cats:
        raise DataError(f"{path}: 'categories' must be a list of {{id, name}}; a COCO file names its classes there")
    try:
        return {int(c["id"]): str(c["name"]) for c in cats}
    except (TypeError, KeyError, ValueError):
        raise DataError(f"{path}: every category needs an 'id' (a number) and a 'name'") from None


def _coco_images(data: dict, path: Path) -> dict[int, BoxedImage]:
    folder = path.parent / "images" if (path.parent / "images").is_dir() else path.parent
    images = {}
    for k, im in enumerate(data.get("images") or []):
        where = f"{path}: image {k + 1}"
        try:
            key, name, size = int(im["id"]), im["file_name"], (int(im["width"]), int(im["height"]))
        except (TypeError, KeyError, ValueError):
            raise DataError(f"{where} needs 'id', 'file_name', 'width' and 'height'") from None
        file = confined(folder, name, where)
        if not file.is_file() and folder != path.parent:
            file = confined(path.parent, name, where)
        images[key] = BoxedImage(file, [], size)
    if not images:
        raise DataError(f"{path} lists no 'images'; it is not a COCO annotation file")
    return images


def read_coco(path: Path) -> BoxSet:
    """A COCO detection file; images without annotations are left out, an annotation of an image or category
    the file does not list is an error."""
    data = read_json(path, "COCO annotation file")
    if not isinstance(data, dict):
        raise DataError(f"{path} is not a COCO annotation file (a JSON object with images, annotations, categories)")
    categories, images = _coco_categories(data, path), _coco_images(data, path)
    for k, ann in enumerate(data.get("annotations") or []):
        where = f"{path}: annotation {k + 1}"
        try:
            image, cat, (x, y, w, h) = int(ann["image_id"]), int(ann["category_id"]), ann["bbox"]
        except (TypeError, KeyError, ValueError):
            raise DataError(f"{where} needs 'image_id', 'category_id' and 'bbox' [x, y, width, height]") from None
        if image not in images:
            raise DataError(f"{where}: image_id {image} is not among the file's images")
        if cat not in categories:
            raise DataError(f"{where} ({images[image].path.name}): category_id {cat} is not among the categories "
                            f"{sorted(categories)}")
        item = images[image]
        try:
            corners = [x, y, float(x) + float(w), float(y) + float(h)]
        except (TypeError, ValueError):
            raise DataError(f"{where}: bbox {ann['bbox']!r:.60} is not four numbers") from None
        item.boxes.append(checked_box(categories[cat], corners, item.size, f"{where} ({item.path.name})"))
    names = list(dict.fromkeys(categories[k] for k in sorted(categories)))
    return finish(list(images.values()), [], str(path), names)


def _via_entries(project: object, path: Path) -> dict:
    entries = project.get("_via_img_metadata", project) if isinstance(project, dict) else None
    if not isinstance(entries, dict) or not entries:
        raise DataError(f"{path} is not a VIA 2 project or region export: expected a JSON object of image entries, "
                        "each with 'filename' and 'regions'")
    return entries


def _via_region(region: object, attribute: str, size, where: str):
    """A rect region's Box, or None for another shape."""
    shape = region.get("shape_attributes") if isinstance(region, dict) else None
    if not isinstance(shape, dict):
        raise DataError(f"{where}: a region needs 'shape_attributes'")
    if shape.get("name") != "rect":
        return None
    label = (region.get("region_attributes") or {}).get(attribute)
    if isinstance(label, dict):  # a checkbox attribute: {name: true}
        label = next((k for k, v in label.items() if v), None)
    if not isinstance(label, str) or not label.strip():
        raise DataError(f"{where}: the rect has no {attribute!r} region attribute naming its class (use "
                        f"{said('attribute')})")
    try:
        x, y, w, h = (float(shape[k]) for k in ("x", "y", "width", "height"))
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{where}: a rect needs numbers x, y, width and height") from None
    return checked_box(label.strip(), [x, y, x + w, y + h], size, where)


def read_via(path: Path, attribute: str = "class") -> BoxSet:
    """A VIA 2 project (its _via_img_metadata) or region export; rect regions become boxes, other shapes are
    counted in a note, images without a rect are left out. Images are looked up beside the JSON file."""
    entries = _via_entries(read_json(path, "VIA project"), path)
    items, other = [], 0
    for key, entry in entries.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str):
            raise DataError(f"{path}: entry {key!r} is not an image entry with a 'filename' and 'regions'")
        where = f"{path}: entry {key!r} ({entry['filename']})"
        image = confined(path.parent, entry["filename"], where)
        regions = entry.get("regions") or []
        regions = list(regions.values()) if isinstance(regions, dict) else regions
        if not isinstance(regions, list):
            raise DataError(f"{where}: 'regions' must be a list")
        size = upright_size(image) if regions else (1, 1)
        boxes = [_via_region(r, attribute, size, f"{where} region {k + 1}") for k, r in enumerate(regions)]
        other += sum(r["shape_attributes"].get("name") != "rect" for r in regions)  # checked by _via_region
        items.append(BoxedImage(image, [b for b in boxes if b is not None], size))
    result = finish(items, [], str(path))
    if other:
        result.notes.append(f"{other} VIA regions that are not rectangles were left out")
    return result
