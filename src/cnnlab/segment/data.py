"""Images with per-pixel class masks: image+mask folders, the ISBI membrane set, Oxford-IIIT Pet trimaps.

Masks hold class indices. Binary masks stored as 0/255 become 0/1; Pet trimaps' 1..3 become 0..2; colour
masks are mapped through a palette file. Images are resized bilinearly, masks with nearest neighbour only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from cnnlab.data.folders import IMAGE_SUFFIXES, open_image
from cnnlab.errors import DataError


@dataclass
class MaskData:
    """images uint8 (N, C, H, W); masks int64 (N, H, W) with values 0..len(classes)-1."""

    images: torch.Tensor
    masks: torch.Tensor
    classes: list[str]
    paths: list[str]

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, index) -> MaskData:
        index = torch.as_tensor(index, dtype=torch.long)
        return MaskData(self.images[index], self.masks[index], self.classes, [self.paths[i] for i in index.tolist()])


def _files(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise DataError(f"{folder} does not exist")
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}


def pair_files(images: Path, masks: Path) -> list[tuple[Path, Path]]:
    """(image, mask) pairs matched by file stem; unmatched files are an error that names them."""
    a, b = _files(images), _files(masks)
    if not a:
        raise DataError(f"no images in {images}")
    lonely = sorted(set(a) ^ set(b))
    if lonely:
        raise DataError(f"{len(lonely)} images and masks do not pair up by name (e.g. {', '.join(lonely[:3])}); "
                        f"{images} has {len(a)} files, {masks} has {len(b)}")
    return [(a[k], b[k]) for k in sorted(a)]


def open_mask(path: Path) -> Image.Image:
    """A mask file decoded and turned upright (EXIF), as its image is; its values are left alone."""
    try:
        with Image.open(path) as img:
            img.load()
            return ImageOps.exif_transpose(img)  # a rotation or flip moves indices, never changes them
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:
        raise DataError(f"cannot read mask {path}: {exc}") from exc


def mask_values(img: Image.Image, path: Path) -> np.ndarray:
    """The class indices of a decoded mask (H, W), int64. Masks are never converted the way photos are: an
    8- or 16-bit gray value, or a palette image's index, is the class; a colour mask needs palette.json."""
    mode = img.mode
    if mode in ("L", "P", "I", "I;16", "I;16L", "I;16B", "I;16N"):
        values = np.asarray(img).astype(np.int64)
    elif mode in ("LA", "PA"):
        values = np.asarray(img)[..., 0].astype(np.int64)  # the alpha channel is not a class
    elif mode == "1":
        values = np.asarray(img).astype(np.int64)  # black 0, white 1
    elif mode == "F":
        values = np.asarray(img)
        if not (np.isfinite(values).all() and (values == np.round(values)).all()):
            raise DataError(f"mask {path} holds fractional values; masks hold whole class indices")
        values = values.astype(np.int64)
    else:
        rgb = np.asarray(img.convert("RGB"))
        if not ((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()):
            raise DataError(f"mask {path} is a colour ({mode}) image; colour masks need a palette.json beside "
                            'images/ and masks/ ({"classes": [...], "colors": [[r, g, b], ...]}), or save the masks '
                            "as class indices in a gray or palette PNG")
        values = rgb[..., 0].astype(np.int64)
    if values.size and values.min() < 0:
        raise DataError(f"mask {path} holds negative values; masks hold class indices 0, 1, 2, ...")
    return values


def read_mask(path: Path, palette: dict[tuple[int, int, int], int] | None = None) -> np.ndarray:
    """A mask file as class indices (H, W), int64."""
    img = open_mask(path)
    if palette is None:
        return mask_values(img, path)
    rgb = np.asarray(img.convert("RGB"))
    out = np.full(rgb.shape[:2], -1, np.int64)
    for color, index in palette.items():
        out[(rgb == color).all(-1)] = index
    if (out < 0).any():
        bad = {tuple(int(v) for v in c) for c in rgb[out < 0][:5]}
        raise DataError(f"mask {path} has colours not in the palette: {sorted(bad)}")
    return out


def load_pairs(pairs: list[tuple[Path, Path]], classes: list[str], image_size: int, *,
               value_map: dict[int, int] | None = None, palette=None) -> MaskData:
    """Decode, check and resize (image, mask) pairs into a MaskData. Mask values are class indices, or keys of
    `value_map`; any other value is an error that names it and its files."""
    images, masks = [], []
    bad: dict[int, list[str]] = {}
    for image_path, mask_path in pairs:
        img = open_image(image_path)  # upright, 16-bit scaled, palette/alpha/CMYK converted: L or RGB
        mask = read_mask(mask_path, palette)
        if (img.size[1], img.size[0]) != mask.shape:
            raise DataError(f"{image_path.name} is {img.size[0]}x{img.size[1]} but its mask {mask_path.name} is "
                            f"{mask.shape[1]}x{mask.shape[0]}")
        values = np.unique(mask)
        allowed = np.array(sorted(value_map)) if value_map is not None else np.arange(len(classes))
        for v in values[~np.isin(values, allowed)]:
            bad.setdefault(int(v), []).append(mask_path.name)
        if value_map is not None and not bad:
            lut = np.zeros(int(values.max(initial=0)) + 1, np.int64)
            for key, index in value_map.items():
                if key < len(lut):
                    lut[key] = index
            mask = lut[mask]
        images.append(img)
        masks.append(Image.fromarray(mask.astype(np.uint8 if mask.max(initial=0) < 256 else np.int32)))
    if bad:
        raise DataError(f"mask values outside the {len(classes)} classes {classes}: {stray_values(bad)}")
    mode = "L" if all(im.mode == "L" for im in images) else "RGB"
    x = np.stack([np.asarray(im.convert(mode).resize((image_size, image_size), Image.Resampling.BILINEAR))
                  for im in images])
    y = np.stack([np.asarray(m.resize((image_size, image_size), Image.Resampling.NEAREST)) for m in masks])
    x = x[..., None] if x.ndim == 3 else x
    return MaskData(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))),
                    torch.from_numpy(y.astype(np.int64)), classes, [str(p) for p, _ in pairs])


def stray_values(bad: dict[int, list[str]], shown: int = 5) -> str:
    """'value 7 in b.png; value 9 in c.png, d.png, e.png and 2 more' for a few values."""
    parts = [f"value {v} in {', '.join(f[:3])}" + (f" and {len(f) - 3} more" if len(f) > 3 else "")
             for v, f in sorted(bad.items())[:shown]]
    return "; ".join(parts) + (f"; and {len(bad) - shown} more values" if len(bad) > shown else "")


def read_classes(path: Path) -> list[str]:
    """classes.txt: one class name per line, line k naming mask value k."""
    try:
        classes = [c.strip() for c in path.read_text(encoding="utf-8").splitlines() if c.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path} as text ({exc}); it holds one class name per line") from None
    doubled = sorted({c for c in classes if classes.count(c) > 1})
    if len(classes) < 2 or doubled:
        said = f"names {', '.join(doubled)} twice" if doubled else f"names {len(classes)} class(es)"
        raise DataError(f"{path} {said}; it holds one distinct class name per line, at least two (line k names "
                        "mask value k)")
    return classes


def read_palette(path: Path) -> tuple[list[str], dict[tuple[int, int, int], int]]:
    """palette.json: {"classes": [names], "colors": [[r, g, b] per class]} -> (classes, colour -> index)."""
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read {path} as JSON ({exc})") from None
    classes = spec.get("classes") if isinstance(spec, dict) else None
    colors = spec.get("colors") if isinstance(spec, dict) else None
    ok = (isinstance(classes, list) and isinstance(colors, list) and 2 <= len(classes) == len(colors)
          and all(isinstance(c, str) and c.strip() for c in classes) and len(set(classes)) == len(classes)
          and all(isinstance(c, list) and len(c) == 3 and all(type(v) is int and 0 <= v <= 255 for v in c)
                  for c in colors))
    if not ok or len({tuple(c) for c in colors}) != len(colors):
        raise DataError(f'{path} must be {{"classes": [name, ...], "colors": [[r, g, b], ...]}}: at least two '
                        "distinct class names and one distinct colour (three whole numbers 0-255) for each")
    return classes, {tuple(c): i for i, c in enumerate(colors)}


MAX_INFERRED_CLASSES = 64  # more distinct values without classes.txt are most likely gray pictures, not masks


@dataclass(frozen=True)
class MaskReading:
    """How masks without classes.txt read: binary 0/255, or class indices 0 (or 1) to `top` with no gap; the
    values that fit neither (`strays`) and the words for the reading."""

    classes: list[str]
    value_map: dict[int, int] | None
    strays: frozenset[int]
    kind: str
    distinct: int  # values found


def mask_reading(pixels: dict[int, int]) -> MaskReading:
    """The reading of masks whose values hold `pixels` ({value: pixels}) without classes.txt. Of the two readings,
    the one that leaves fewer pixels unexplained is taken; the others are strays (never classes)."""
    run = 0 if 0 in pixels else 1  # indices: the unbroken run 0 (or 1), 1, 2, ...
    while run + 1 in pixels:
        run += 1
    binary_bad = {v for v in pixels if v not in (0, 255)}
    if not binary_bad:
        return MaskReading(["0", "255"], {0: 0, 255: 1}, frozenset(), "binary 0/255 masks", len(pixels))
    index_bad = {v for v in pixels if v > run}
    looks_binary = 255 in pixels and sum(pixels[v] for v in binary_bad) < sum(pixels[v] for v in index_bad)
    if looks_binary:
        return MaskReading(["0", "255"], {0: 0, 255: 1}, frozenset(binary_bad), "binary 0/255 masks", len(pixels))
    return MaskReading([str(v) for v in range(run + 1)], None, frozenset(index_bad), f"class indices 0 to {run}",
                       len(pixels))


def pixel_counts(mask: np.ndarray) -> dict[int, int]:
    """{value: pixels} of one mask."""
    values, n = np.unique(mask, return_counts=True)
    return dict(zip(values.tolist(), n.tolist(), strict=True))


def value_counts(found) -> dict[int, int]:
    """{value: pixels} over masks (an iterable of {value: pixels})."""
    pixels: dict[int, int] = {}
    for counts in found:
        for v, n in counts.items():
            pixels[v] = pixels.get(v, 0) + n
    return pixels


def binary_names(classes: list[str], values: set[int]) -> bool:
    """True when classes.txt names two classes for masks stored as 0/255: value 255 is the second class."""
    return len(classes) == 2 and 255 in values and values <= {0, 255}


def infer_classes(found: dict[Path, dict[int, int]], root: Path) -> tuple[list[str], dict[int, int] | None]:
    """Classes of masks without classes.txt (`found`: mask file -> {value: pixels}): binary 0/255 masks, or
    class indices 0, 1, 2, ... with no gap (class 0 may be unused). The stray values and their files are named
    (see mask_reading); they never become classes."""
    reading = mask_reading(value_counts(found.values()))
    if reading.strays:
        bad = {v: sorted(p.name for p, counts in found.items() if v in counts) for v in sorted(reading.strays)}
        raise DataError(f"the masks in {root / 'masks'} look like {reading.kind}, but some hold other values: "
                        f"{stray_values(bad)}. Fix those masks, or add {root / 'classes.txt'} (one class name per "
                        "line, line k naming mask value k) if those values are classes")
    if len(reading.classes) > MAX_INFERRED_CLASSES:
        raise DataError(f"the masks in {root / 'masks'} hold {reading.distinct} different values (0 to "
                        f"{len(reading.classes) - 1}): they look like gray pictures, not class masks. Masks hold class "
                        f"indices 0, 1, 2, ... (up to {MAX_INFERRED_CLASSES} classes without classes.txt); add "
                        f"{root / 'classes.txt'} (one class name per line, line k naming value k) for more")
    return reading.classes, reading.value_map


def read_mask_folder(root: Path, image_size: int) -> MaskData:
    """root/images/* and root/masks/* (same names). Classes from root/classes.txt (one per line), colours
    from root/palette.json ({"classes": [...], "colors": [[r, g, b], ...]}); without either, 0/255 masks are
    binary and other masks hold class indices 0, 1, 2, ... (a value that fits neither is an error)."""
    root = Path(root)
    pairs = pair_files(root / "images", root / "masks")
    if (root / "palette.json").is_file():
        classes, palette = read_palette(root / "palette.json")
        return load_pairs(pairs, classes, image_size, palette=palette)
    found = {m: pixel_counts(read_mask(m)) for _, m in pairs}
    if (root / "classes.txt").is_file():
        classes = read_classes(root / "classes.txt")
        values = set().union(*found.values())
        binary = binary_names(classes, values)
        return load_pairs(pairs, classes, image_size, value_map={0: 0, 255: 1} if binary else None)
    classes, value_map = infer_classes(found, root)
    return load_pairs(pairs, classes, image_size, value_map=value_map)


def read_isbi(root: Path, image_size: int) -> MaskData:
    """The ISBI 2012 membrane set: images/NN.png, masks/NN.png with 0 = membrane, 255 = cell interior."""
    pairs = pair_files(Path(root) / "images", Path(root) / "masks")
    return load_pairs(pairs, ["membrane", "cell"], image_size, value_map={0: 0, 255: 1})


def read_oxford_pet(root: Path, image_size: int) -> MaskData:
    """Oxford-IIIT Pet: images/*.jpg and annotations/trimaps/*.png with 1 = pet, 2 = background, 3 = border."""
    root = Path(root)
    images = _files(root / "images")
    trimaps = {k: v for k, v in _files(root / "annotations" / "trimaps").items() if not k.startswith("._")}
    pairs = [(images[k], trimaps[k]) for k in sorted(images) if k in trimaps]
    if not pairs:
        raise DataError(f"no image in {root / 'images'} has a trimap in {root / 'annotations' / 'trimaps'}")
    return load_pairs(pairs, ["pet", "background", "border"], image_size, value_map={1: 0, 2: 1, 3: 2})


LAYOUTS = {"folder": read_mask_folder, "isbi": read_isbi, "oxford-pet": read_oxford_pet}
