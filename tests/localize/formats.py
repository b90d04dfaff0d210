"""Writers for the tests: one small boxed data set (digits pasted on a canvas) saved in every box format."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from PIL import Image


def canvas(n: int = 12, size: int = 48, objects: int = 1):
    from cnnlab.data.boxes.tensors import digit_canvas

    return digit_canvas(size, n, seed=1, objects=objects)


def pixel_boxes(data, i: int) -> list[tuple[str, float, float, float, float]]:
    s = data.images.shape[-1]
    return [(data.classes[int(r[0])], *(float(v) * s for v in r[1:])) for r in data.targets[i] if r[0] >= 0]


def save_images(data, folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(len(data)):
        names.append(f"im{i}.png")
        Image.fromarray(data.images[i].permute(1, 2, 0).numpy()).save(folder / names[-1])
    return names


def write_csv(data, root: Path) -> Path:
    names = save_images(data, root)
    s = data.images.shape[-1]
    with (root / "boxes.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["filename", "width", "height", "class", "xmin", "ymin", "xmax", "ymax"])
        for i, name in enumerate(names):
            for label, *corners in pixel_boxes(data, i):
                w.writerow([name, s, s, label, *corners])
    return root / "boxes.csv"


def write_voc(data, root: Path) -> Path:
    names = save_images(data, root / "JPEGImages")
    (root / "Annotations").mkdir()
    s = data.images.shape[-1]
    for i, name in enumerate(names):
        objects = "".join(f"<object><name>{label}</name><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax>"
                          f"<ymax>{y1}</ymax></bndbox></object>" for label, x0, y0, x1, y1 in pixel_boxes(data, i))
        (root / "Annotations" / f"im{i}.xml").write_text(
            f"<annotation><filename>{name}</filename><size><width>{s}</width><height>{s}</height><depth>3</depth>"
            f"</size>{objects}</annotation>")
    return root


def write_yolo(data, root: Path) -> Path:
    names = save_images(data, root / "images")
    (root / "labels").mkdir()
    (root / "classes.txt").write_text("\n".join(data.classes) + "\n")
    for i, name in enumerate(names):
        lines = [f"{int(r[0])} {(r[1] + r[3]) / 2:.6f} {(r[2] + r[4]) / 2:.6f} {r[3] - r[1]:.6f} {r[4] - r[2]:.6f}"
                 for r in data.targets[i].tolist() if r[0] >= 0]
        (root / "labels" / name.replace(".png", ".txt")).write_text("\n".join(lines) + "\n")
    return root


def write_coco(data, root: Path) -> Path:
    names = save_images(data, root / "images")
    s = data.images.shape[-1]
    boxes = [(i, *b) for i in range(len(names)) for b in pixel_boxes(data, i)]
    anns = [{"id": k, "image_id": i, "category_id": data.classes.index(label) + 1, "bbox": [x0, y0, x1 - x0, y1 - y0]}
            for k, (i, label, x0, y0, x1, y1) in enumerate(boxes)]
    doc = {"images": [{"id": i, "file_name": n, "width": s, "height": s} for i, n in enumerate(names)],
           "annotations": anns, "categories": [{"id": k + 1, "name": c} for k, c in enumerate(data.classes)]}
    (root / "ann.json").write_text(json.dumps(doc))
    return root / "ann.json"


def write_via(data, root: Path) -> Path:
    names = save_images(data, root)
    meta = {}
    for i, name in enumerate(names):
        regions = [{"shape_attributes": {"name": "rect", "x": x0, "y": y0, "width": x1 - x0, "height": y1 - y0},
                    "region_attributes": {"class": label}} for label, x0, y0, x1, y1 in pixel_boxes(data, i)]
        meta[f"{name}123"] = {"filename": name, "size": 123, "regions": regions}
    (root / "via.json").write_text(json.dumps({"_via_img_metadata": meta}))
    return root / "via.json"


WRITERS = {"csv": write_csv, "voc": write_voc, "yolo": write_yolo, "coco": write_coco, "via": write_via}


SHAPE_SIZES = ((96, 48), (48, 96), (80, 60), (64, 64))  # (width, height): wide, tall and square images


def draw_shape(width: int, height: int, rng, colour: tuple[int, int, int]) -> tuple[Image.Image, tuple]:
    """A filled square of `colour` at a random place on dark noise; returns the image and its box in pixels."""
    import numpy as np

    pixels = rng.integers(0, 70, (height, width, 3)).astype(np.uint8)
    side = int(rng.integers(min(width, height) // 4, min(width, height) // 2 + 1))
    x0, y0 = int(rng.integers(0, width - side + 1)), int(rng.integers(0, height - side + 1))
    pixels[y0:y0 + side, x0:x0 + side] = colour
    return Image.fromarray(pixels), (x0, y0, x0 + side, y0 + side)


def write_shapes(root: Path, n: int, seed: int = 0) -> Path:
    """`n` images of wide, tall and square shapes with one bright square each (red or blue: the class), and a box
    CSV of them; returns the CSV's path."""
    import numpy as np

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    colours = {"red": (255, 60, 60), "blue": (60, 90, 255)}
    with (root / "boxes.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["filename", "width", "height", "class", "xmin", "ymin", "xmax", "ymax"])
        for i in range(n):
            width, height = SHAPE_SIZES[i % len(SHAPE_SIZES)]
            label = "red" if rng.random() < 0.5 else "blue"
            img, box = draw_shape(width, height, rng, colours[label])
            img.save(root / f"s{i}.png")
            w.writerow([f"s{i}.png", width, height, label, *box])
    return root / "boxes.csv"
