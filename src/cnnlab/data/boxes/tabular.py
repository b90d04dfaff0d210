"""Box annotations in text files: a CSV of filename,width,height,class,xmin,ymin,xmax,ymax (one row a box,
images relative to the CSV's folder) and YOLO folders (images/ + labels/*.txt of `class cx cy w h`, relative
to the image size, with the class names in classes.txt, obj.names or data.yaml's names list)."""

from __future__ import annotations

import csv
from pathlib import Path

from cnnlab.data.boxes.core import BoxedImage, BoxSet, checked_box, confined, finish, read_class_list, upright_size
from cnnlab.data.folders import IMAGE_SUFFIXES
from cnnlab.errors import DataError

CSV_COLUMNS = ("filename", "width", "height", "class", "xmin", "ymin", "xmax", "ymax")


def read_csv_boxes(path: Path) -> BoxSet:
    """One row a box; rows of one file name make one image. A classes.txt beside the CSV fixes the classes."""
    if not path.is_file():
        raise DataError(f"box CSV {path} {'is not a file' if path.exists() else 'does not exist'}")
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
            header = list(rows[0].keys()) if rows else []
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read {path} as CSV ({exc})") from None
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise DataError(f"{path} lacks the column(s) {', '.join(missing)}; a box CSV has the header "
                        f"{','.join(CSV_COLUMNS)}")
    items: dict[str, BoxedImage] = {}
    for line, row in enumerate(rows, start=2):
        where = f"{path} line {line}"
        try:
            size = (int(row["width"]), int(row["height"]))
        except (TypeError, ValueError):
            raise DataError(f"{where}: width and height must be whole numbers, got {row['width']!r}, "
                            f"{row['height']!r}") from None
        if min(size) < 1:
            raise DataError(f"{where}: the image size {size[0]}x{size[1]} is empty")
        name = row["filename"]
        item = items.setdefault(name, BoxedImage(confined(path.parent, name, where), [], size))
        if item.size != size:
            raise DataError(f"{where}: {name} is {size[0]}x{size[1]} here but {item.size[0]}x{item.size[1]} on an "
                            "earlier line")
        label = (row["class"] or "").strip()
        if not label:
            raise DataError(f"{where}: the class is empty")
        item.boxes.append(checked_box(label, [row[k] for k in CSV_COLUMNS[4:]], size, where))
    return finish(list(items.values()), [], str(path), read_class_list(path.parent / "classes.txt"))


def yolo_classes(root: Path) -> list[str]:
    for name in ("classes.txt", "obj.names"):
        names = read_class_list(root / name)
        if names is not None:
            return names
    yaml = root / "data.yaml"
    if yaml.is_file():  # the one line we need: names: [a, b, c]
        for line in yaml.read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "names" and value.strip().startswith("["):
                return [v.strip().strip("'\"") for v in value.strip()[1:-1].split(",") if v.strip()]
    raise DataError(f"{root} has no classes.txt, obj.names or data.yaml with a names: [...] list; YOLO labels "
                    "hold class numbers, so the names must be given (one per line in classes.txt)")


def yolo_line(line: str, classes: list[str], size: tuple[int, int], where: str):
    parts = line.split()
    if len(parts) != 5:
        raise DataError(f"{where}: a YOLO label line is 'class cx cy w h', got {line.strip()!r:.80}")
    try:
        index, (cx, cy, w, h) = int(parts[0]), (float(v) for v in parts[1:])
    except ValueError:
        raise DataError(f"{where}: {line.strip()!r:.80} holds something that is not a number") from None
    if not 0 <= index < len(classes):
        raise DataError(f"{where}: class {index} is not in the {len(classes)} classes of the class list "
                        f"({', '.join(classes[:5])}{', ...' if len(classes) > 5 else ''})")
    width, height = size
    corners = [(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height]
    return checked_box(classes[index], corners, size, where)


def read_yolo(root: Path) -> BoxSet:
    """root/images/* with root/labels/<stem>.txt; an image without a label file (or an empty one) has no boxes
    and is left out, as YOLO's own background images are."""
    images, labels = root / "images", root / "labels"
    if not images.is_dir() or not labels.is_dir():
        raise DataError(f"{root} is not a YOLO folder: it needs images/ and labels/ (and classes.txt)")
    classes = yolo_classes(root)
    items = []
    for image in sorted(p for p in images.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
        label_file = labels / image.relative_to(images).with_suffix(".txt")
        lines = label_file.read_text(encoding="utf-8").splitlines() if label_file.is_file() else []
        size = upright_size(image) if any(line.strip() for line in lines) else (1, 1)
        boxes = [yolo_line(line, classes, size, f"{label_file} line {k + 1}")
                 for k, line in enumerate(lines) if line.strip()]
        items.append(BoxedImage(image, boxes, size if boxes else None))
    return finish(items, [], str(root), classes)
