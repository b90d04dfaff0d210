"""The mask side of `cnnlab data audit --task segment`: every image with its mask, read as `cnnlab segment train`
reads them (the same layouts, the same split), without stopping at the first bad mask. The value census: each
mask value, the class it stands for and its share of pixels and images in each split; values that are no class
(strays: anti-aliased edges, a mask saved as JPEG); masks of another size than their image; files without a
partner. Images go into the Scan for duplicates and leakage like any others."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnnlab.data.audit.scan import FileRows, Scan
from cnnlab.errors import ConfigError, DataError

KEY = "masks"  # the audit's findings of this room, under this key of audit.json
LAYOUT_VALUES = {"isbi": {0: "membrane", 255: "cell"}, "oxford-pet": {1: "pet", 2: "background", 3: "border"}}
FILES_NAMED = 10  # files named per stray value


def prefixes() -> tuple[str, ...]:
    """The --data layouts this room's audit reads."""
    from cnnlab.segment.data import LAYOUTS

    return tuple(LAYOUTS)


def scan_data(spec: str, data_dir: str | None, seed: int, **_options) -> tuple[Scan, dict, dict]:
    """The audit's entry (see cnnlab.data.audit): the Scan, the census, and nothing more for the report."""
    scan, found = scan_masks(spec, seed)
    return scan, found, {}


def mask_pairs(layout: str, root: Path) -> tuple[list[tuple[Path, Path]], list[str]]:
    """(image, mask) pairs of a layout by file stem, and the files without a partner (by name)."""
    from cnnlab.segment.data import _files

    masks_dir = root / ("annotations/trimaps" if layout == "oxford-pet" else "masks")
    images = _files(root / "images")
    masks = {k: v for k, v in _files(masks_dir).items() if not k.startswith("._")}
    lonely = [f"{images[k].name} (no mask)" for k in sorted(set(images) - set(masks))]
    lonely += [f"{masks[k].name} (no image)" for k in sorted(set(masks) - set(images))]
    return [(images[k], masks[k]) for k in sorted(set(images) & set(masks))], lonely


def scan_masks(spec: str, seed: int, val_fraction: float = 0.2) -> tuple[Scan, dict]:
    """The images of the mask set `spec` (LAYOUT:PATH) as a Scan split as training splits them, and the census."""
    from cnnlab.data.boxes.core import upright_size
    from cnnlab.segment.data import LAYOUTS, pixel_counts, read_mask
    from cnnlab.segment.steps import split_rows

    layout, _, raw = spec.partition(":")
    if layout not in LAYOUTS or not raw.strip():
        raise ConfigError(f"--data for --task segment is one of {', '.join(f'{k}:PATH' for k in LAYOUTS)}; got "
                          f"{spec!r} (the built-in digits masks are drawn by cnnlab: nothing to audit)")
    root = Path(raw).expanduser()
    if not root.is_dir():
        raise DataError(f"{root} {'is not a folder' if root.exists() else 'does not exist'}; --data {layout}:PATH "
                        "takes a folder")
    pairs, lonely = mask_pairs(layout, root)
    if not pairs:
        raise DataError(f"{root} has no image with a mask ({len(lonely)} files without a partner)")
    palette = _palette(layout, root)
    train_rows, _ = split_rows(len(pairs), val_fraction, seed)
    in_train = np.zeros(len(pairs), bool)
    in_train[train_rows] = True
    rows = FileRows(spec, root, ["image"])
    counts: list[dict[int, int]] = []  # per kept pair: {value: pixels}
    mismatched, kept_masks = [], []
    for k, (image, mask) in enumerate(pairs):
        if not rows.add(image, 0 if in_train[k] else 1, 0):
            continue
        try:
            values = pixel_counts(read_mask(mask) if palette is None else _colours(mask))
        except DataError as exc:
            rows.scan.unreadable.append((str(mask), str(exc)))
            values = {}
        counts.append(values)
        kept_masks.append(mask)
        size = upright_size(image)
        shape = _mask_size(mask)
        if shape is not None and shape != size:
            mismatched.append({"image": image.name, "mask": mask.name, "image_size": f"{size[0]}x{size[1]}",
                               "mask_size": f"{shape[0]}x{shape[1]}"})
    scan = rows.done()
    names, reading = _expected(layout, root, palette, counts)
    return scan, census(scan, counts, kept_masks, names, reading, mismatched, lonely, palette is not None)


def census(scan: Scan, counts: list[dict[int, int]], masks: list[Path], names: dict[int, str], reading: str,
           mismatched: list[dict], lonely: list[str], colours: bool) -> dict:
    """The value census of the masks: a row per class value (pixels and images in all, share of pixels in training
    and validation) and per stray value (with the files that hold it)."""
    total = {0: {}, 1: {}}
    images: dict[int, int] = {}
    for values, split in zip(counts, scan.split.tolist(), strict=True):
        for v, n in values.items():
            total[split][v] = total[split].get(v, 0) + n
            images[v] = images.get(v, 0) + 1
    every = {v: total[0].get(v, 0) + total[1].get(v, 0) for v in set(total[0]) | set(total[1])}
    pixels = {k: max(sum(t.values()), 1) for k, t in total.items()}
    all_pixels = max(sum(every.values()), 1)

    def shown(v: int) -> str:
        return f"#{v:06x}" if colours else str(v)

    classes = [{"class": name, "value": shown(v), "pixels": every.get(v, 0),
                "share": round(every.get(v, 0) / all_pixels, 4), "images": images.get(v, 0),
                "train_share": round(total[0].get(v, 0) / pixels[0], 4),
                "val_share": round(total[1].get(v, 0) / pixels[1], 4)} for v, name in names.items()]
    strays = []
    for v in sorted(set(every) - set(names)):
        files = [m.name for m, c in zip(masks, counts, strict=True) if v in c]
        strays.append({"value": shown(v), "pixels": every[v], "share": round(every[v] / all_pixels, 6),
                       "images": len(files), "files": files[:FILES_NAMED]})
    return {"reading": reading, "classes": classes, "strays": strays,
            "images_with_strays": len({m for m, c in zip(masks, counts, strict=True) if set(c) - set(names)}),
            "size_mismatches": mismatched, "unpaired": lonely,
            "one_class_masks": [m.name for m, c in zip(masks, counts, strict=True) if len(c) == 1][:FILES_NAMED * 20],
            "absent_classes": [c["class"] for c in classes if not c["pixels"]]}


def problems(masks: dict) -> int:
    """How many images or files the census finds wrong: with stray values, of another size, without a partner."""
    return masks["images_with_strays"] + len(masks["size_mismatches"]) + len(masks["unpaired"])


def _palette(layout: str, root: Path) -> dict[int, str] | None:
    """palette.json's colours (packed 0xRRGGBB) -> class names, for a folder that has one."""
    if layout != "folder" or not (root / "palette.json").is_file():
        return None
    from cnnlab.segment.data import read_palette

    classes, colours = read_palette(root / "palette.json")
    return {(r << 16) | (g << 8) | b: classes[i] for (r, g, b), i in colours.items()}


def _colours(path: Path) -> np.ndarray:
    from cnnlab.segment.data import open_mask

    rgb = np.asarray(open_mask(path).convert("RGB")).astype(np.int64)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def _mask_size(path: Path) -> tuple[int, int] | None:
    from cnnlab.data.boxes.core import upright_size

    try:
        return upright_size(path)
    except DataError:
        return None


def _expected(layout: str, root: Path, palette: dict[int, str] | None, counts: list[dict[int, int]]
              ) -> tuple[dict[int, str], str]:
    """The mask values that are classes (value -> class name) and how the masks were read, as training reads them."""
    from cnnlab.segment.data import MAX_INFERRED_CLASSES, binary_names, mask_reading, read_classes, value_counts

    if layout in LAYOUT_VALUES:
        values = LAYOUT_VALUES[layout]
        return values, f"the {layout} layout: " + ", ".join(f"{v} {n}" for v, n in values.items())
    if palette is not None:
        return palette, "palette.json: " + ", ".join(f"#{v:06x} {n}" for v, n in palette.items())
    found = set().union(*counts) if counts else set()
    if (root / "classes.txt").is_file():
        classes = read_classes(root / "classes.txt")
        if binary_names(classes, found):
            return {0: classes[0], 255: classes[1]}, "classes.txt, binary 0/255 masks"
        return dict(enumerate(classes)), "classes.txt: value k is line k"
    reading = mask_reading(value_counts(counts))
    if len(reading.classes) > MAX_INFERRED_CLASSES:
        return {}, (f"{reading.distinct} different values: gray pictures, not class masks (add classes.txt for more "
                    f"than {MAX_INFERRED_CLASSES} classes)")
    if reading.value_map is not None:
        return {v: str(v) for v in reading.value_map}, f"no classes.txt: {reading.kind}"
    return {int(c): c for c in reading.classes}, f"no classes.txt: {reading.kind}"
