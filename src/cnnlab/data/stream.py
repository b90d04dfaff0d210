"""Image files into one uint8 array, one image at a time: memory stays near the size of the result.

Each file is opened for its header first (size, channels), then decoded at reduced size where the format
allows (JPEG draft), fitted to the requested square, copied into a preallocated array and dropped, on a
small thread pool (Pillow decodes without the GIL). The result can be cached as an .npz beside the data,
keyed by every file's path, size and modification time, so a second run of the same folder and size starts
at once.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cnnlab.atomic import replacing
from cnnlab.console import notice
from cnnlab.data.images import ImageData
from cnnlab.data.pixels import fit_square, is_gray, normalize
from cnnlab.errors import DataError
from cnnlab.memory import available_memory
from cnnlab.options import said

CACHE_FORMAT = 1
ROTATED = (5, 6, 7, 8)  # EXIF orientations that swap width and height


def _header(path: Path) -> tuple[tuple[int, int], bool]:
    """(width, height) as displayed and whether the file holds one channel; nothing is decoded."""
    with Image.open(path) as img:
        width, height = img.size
        orientation = img.getexif().get(0x0112, 1) if hasattr(img, "getexif") else 1
        return ((height, width) if orientation in ROTATED else (width, height)), is_gray(img)


def _decode(path: Path, mode: str, size: int | None) -> np.ndarray:
    with Image.open(path) as img:
        img = normalize(img, side=size, mode=mode)
    if size is not None:
        img = fit_square(img, size)
    array = np.asarray(img)
    return array[:, :, None] if array.ndim == 2 else array


def _cache_key(paths: list[Path], labels: list[int], classes: list[str], image_size: int | None) -> str:
    digest = hashlib.sha256(json.dumps([CACHE_FORMAT, image_size, classes, labels]).encode())
    for path in paths:
        stat = path.stat()
        digest.update(f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:32]


def _read_cache(file: Path) -> tuple[ImageData, list[tuple[str, str]]] | None:
    """The cached images, or None (with a one-line notice) when the file is damaged or not of this shape: a
    cache is ours to rebuild, never a reason to stop (a truncated zip raises BadZipFile, a bad member zlib.error,
    a wrong array ValueError...)."""
    try:
        with np.load(file, allow_pickle=False) as npz:
            images, labels = npz["images"], npz["labels"]
            classes, paths = [str(c) for c in npz["classes"]], [str(p) for p in npz["paths"]]
            skipped = [tuple(map(str, row)) for row in npz["skipped"].reshape(-1, 2)]
        if images.dtype != np.uint8 or images.ndim != 4 or not len(images) == len(labels) == len(paths):
            raise ValueError(f"arrays of {images.dtype} {images.shape}, {len(labels)} labels, {len(paths)} paths")
        data = ImageData(torch.from_numpy(images), torch.from_numpy(labels).long(), classes, paths)
    except Exception as exc:  # noqa: BLE001 (any failure to read a derived file means: rebuild it)
        notice(f"the image cache {file.name} could not be read ({type(exc).__name__}: {exc}); rebuilding it")
        return None
    return data, skipped


def _write_cache(file: Path, data: ImageData, skipped: list[tuple[str, str]]) -> None:
    try:
        file.parent.mkdir(exist_ok=True)
        with replacing(file) as tmp, open(tmp, "wb") as f:
            np.savez(f, images=data.images.numpy(), labels=data.labels.numpy(), classes=np.array(data.classes),
                     paths=np.array(data.paths), skipped=np.array(skipped, dtype=str).reshape(-1, 2))
    except OSError:
        pass  # a read-only data folder: no cache, nothing else changes


def _read_headers(paths: list[Path]) -> tuple[dict[int, tuple], list[tuple[str, str]]]:
    """{index: (size, gray)} of the files whose header reads, and (path, reason) for the others."""
    headers, skipped = {}, []
    for i, path in enumerate(paths):
        try:
            headers[i] = _header(path)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            skipped.append((str(path), str(exc)))
    if not headers:
        first = f" (first: {skipped[0][0]}: {skipped[0][1]})" if skipped else ""
        raise DataError(f"none of the {len(paths)} images could be read{first}")
    return headers, skipped


def _common_size(headers: dict[int, tuple], image_size: int | None) -> tuple[int, int]:
    """(width, height) of the decoded images: image_size square, or the one size every file has."""
    if image_size:
        return image_size, image_size
    sizes = Counter(size for size, _ in headers.values())
    if len(sizes) > 1:
        (a, _), (b, _) = sizes.most_common(2)
        raise DataError(f"images have {len(sizes)} different sizes (e.g. {a[0]}x{a[1]} and {b[0]}x{b[1]}); "
                        f"pass {said('image_size')} N to resize them to N x N")
    return next(iter(headers.values()))[0]


def _check_memory(count: int, channels: int, width: int, height: int) -> None:
    need, free = count * channels * width * height, available_memory()
    if need > free // 2:
        raise DataError(f"{count} images of {width}x{height} would take {need / 2**30:.1f} GiB in memory, more "
                        f"than half of the {free / 2**30:.1f} GiB free here; pass a smaller {said('image_size')}")


def load_images(paths: list[Path], labels: list[int], classes: list[str], image_size: int | None, *,
                cache_dir: Path | None = None, workers: int | None = None) -> tuple[ImageData, list[tuple[str, str]]]:
    """Decode files into an ImageData (uint8 (N, C, S, S) when image_size is given: shorter side resized,
    centre cropped); unreadable files are skipped and returned as (path, reason). One channel when every
    file holds one, else RGB. With `cache_dir`, the result is cached there and reused while no file changed."""
    paths = [Path(p) for p in paths]
    cache = cache_dir / f"images-{_cache_key(paths, labels, classes, image_size)}.npz" if cache_dir else None
    if cache is not None and cache.is_file() and (hit := _read_cache(cache)) is not None:
        return hit
    headers, skipped = _read_headers(paths)
    mode = "L" if all(gray for _, gray in headers.values()) else "RGB"
    width, height = _common_size(headers, image_size)
    order = sorted(headers)
    _check_memory(len(order), 1 if mode == "L" else 3, width, height)
    out = np.empty((len(order), 1 if mode == "L" else 3, height, width), np.uint8)  # (N, C, H, W)
    ok = np.zeros(len(order), bool)

    def work(slot: int) -> None:
        path = paths[order[slot]]
        try:
            out[slot] = _decode(path, mode, image_size).transpose(2, 0, 1)
            ok[slot] = True
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            skipped.append((str(path), str(exc)))

    with ThreadPoolExecutor(max_workers=workers or min(4, os.cpu_count() or 1)) as pool:
        list(pool.map(work, range(len(order))))
    if not ok.any():
        raise DataError(f"none of the {len(paths)} images could be read (first: {skipped[0][0]}: {skipped[0][1]})")
    kept = [order[s] for s in np.flatnonzero(ok)]
    images = torch.from_numpy(out if ok.all() else out[ok])
    data = ImageData(images, torch.tensor([labels[i] for i in kept], dtype=torch.long), list(classes),
                     [str(paths[i]) for i in kept])
    skipped.sort()
    if cache is not None:
        _write_cache(cache, data, skipped)
    return data, skipped
