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
from PIL import Image

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


def read_mask(path: Path, palette: dict[tuple[int, int, int], int] | None = None) -> np.ndarray:
    """A mask file as class indices (H, W)."""
    with Image.open(path) as img:
        if palette is not None:
            rgb = np.asarray(img.convert("RGB"))
            out = np.full(rgb.shape[:2], 255, np.uint8)
            for color, index in palette.items():
                out[(rgb == color).all(-1)] = index
            if (out == 255).any():
                bad = {tuple(c) for c in rgb[out == 255][:5]}
                raise DataError(f"mask {path} has colours not in the palette: {sorted(bad)}")
            return out
        return np.asarray(img.convert("L") if img.mode not in ("L", "P", "I") else img).astype(np.int64)


def load_pairs(pairs: list[tuple[Path, Path]], classes: list[str], image_size: int, *,
               value_map: dict[int, int] | None = None, palette=None) -> MaskData:
    """Decode, check and resize (image, mask) pairs into a MaskData."""
    images, masks = [], []
    bad: dict[int, list[str]] = {}
    gray = True
    for image_path, mask_path in pairs:
        img = open_image(image_path)
        mask = read_mask(mask_path, palette)
        if (img.size[1], img.size[0]) != mask.shape:
            raise DataError(f"{image_path.name} is {img.size[0]}x{img.size[1]} but its mask {mask_path.name} is "
                            f"{mask.shape[1]}x{mask.shape[0]}")
        if value_map is not None:
            mask = np.vectorize(lambda v: value_map.get(int(v), 10_000))(mask) if mask.size else mask
        for v in np.unique(mask[mask >= len(classes)]):
            bad.setdefault(int(v), []).append(mask_path.name)
        gray = gray and img.mode in ("L", "I", "I;16", "1")
        images.append(img)
        masks.append(Image.fromarray(mask.astype(np.uint8 if mask.max(initial=0) < 256 else np.int32)))
    if bad:
        found = "; ".join(f"value {v} in {', '.join(f[:3])}" + (f" and {len(f) - 3} more" if len(f) > 3 else "")
                          for v, f in sorted(bad.items()))
        raise DataError(f"mask values outside the {len(classes)} classes {classes}: {found}")
    mode = "L" if gray else "RGB"
    x = np.stack([np.asarray(im.convert(mode).resize((image_size, image_size), Image.Resampling.BILINEAR))
                  for im in images])
    y = np.stack([np.asarray(m.resize((image_size, image_size), Image.Resampling.NEAREST)) for m in masks])
    x = x[..., None] if x.ndim == 3 else x
    return MaskData(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))),
                    torch.from_numpy(y.astype(np.int64)), classes, [str(p) for p, _ in pairs])


def read_mask_folder(root: Path, image_size: int) -> MaskData:
    """root/images/* and root/masks/* (same names). Classes from root/classes.txt (one per line), colours
    from root/palette.json ({"classes": [...], "colors": [[r, g, b], ...]}); 0/255 masks become binary."""
    root = Path(root)
    pairs = pair_files(root / "images", root / "masks")
    palette = None
    if (root / "palette.json").is_file():
        spec = json.loads((root / "palette.json").read_text())
        classes = list(spec["classes"])
        palette = {tuple(c): i for i, c in enumerate(spec["colors"])}
        return load_pairs(pairs, classes, image_size, palette=palette)
    values = np.unique(np.concatenate([np.unique(read_mask(m)) for _, m in pairs]))
    if (root / "classes.txt").is_file():
        classes = [c.strip() for c in (root / "classes.txt").read_text().splitlines() if c.strip()]
        return load_pairs(pairs, classes, image_size)
    if set(values.tolist()) <= {0, 255}:
        return load_pairs(pairs, ["0", "255"], image_size, value_map={0: 0, 255: 1})
    return load_pairs(pairs, [str(v) for v in range(int(values.max()) + 1)], image_size)


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
