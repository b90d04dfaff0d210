"""A run's split, kept in its folder (splits.json), so evaluating or resuming later uses the same images.

For image folders the manifest lists every file of each split (relative to the data folder) with its label;
a later load reads exactly those files and reports what changed (files gone, files added) instead of
splitting the changed folder anew. For datasets in official files it records sizes and a digest of the
labels of each split, and a later load that does not match them is refused.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from cnnlab.data.folders import list_images, load_images
from cnnlab.data.images import DataSplits, ImageData
from cnnlab.errors import DataError
from cnnlab.options import said

SPLITS = ("train", "val", "test")
FORMAT = 1


def _digest(labels) -> str:
    return hashlib.sha256(np.asarray(labels, dtype=np.int64).tobytes()).hexdigest()[:16]


def _relative(paths: list[str], root: Path) -> list[str] | None:
    try:
        return [Path(p).resolve().relative_to(root.resolve()).as_posix() for p in paths]
    except ValueError:
        return None


def split_manifest(data: DataSplits, root: Path | None) -> dict:
    """What splits.json holds for `data`, read from `root` (the data folder)."""
    manifest: dict = {"format": FORMAT, "classes": list(data.classes), "read_size": data.train.size[0],
                      "leaks_dropped": data.leaks_dropped}
    for name in SPLITS:
        part: ImageData = getattr(data, name)
        entry = {"count": len(part), "labels_sha256": _digest(part.labels)}
        relative = _relative(part.paths, root) if part.paths and root is not None else None
        if relative is not None:
            entry.update(paths=relative, labels=part.labels.tolist(), sizes=[_size(p) for p in part.paths])
        manifest[name] = entry
    return manifest


def _size(path: str | Path) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return -1


def is_file_manifest(manifest: dict) -> bool:
    return all("paths" in manifest.get(name, {}) for name in SPLITS)


def check_manifest(manifest: object) -> dict:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not all(
            isinstance(manifest.get(name), dict) for name in SPLITS):
        raise DataError("splits.json in the run folder is damaged or from another version; the run's split cannot "
                        "be recovered")
    return manifest


def verify(data: DataSplits, manifest: dict) -> None:
    """DataError when a dataset read from its official files is not the one the run was trained on."""
    for name in SPLITS:
        part, entry = getattr(data, name), manifest[name]
        if len(part) != entry.get("count") or _digest(part.labels) != entry.get("labels_sha256"):
            raise DataError(f"the {name} split now holds {len(part)} images, not the {entry.get('count')} this run was "
                            "trained with (or their labels differ): the dataset files changed since training. "
                            f"Point {said('data_dir')} at the original files, or train a new run")


def load_from_manifest(name: str, root: Path, manifest: dict, image_size: int | None,
                       cache_dir: Path | None) -> DataSplits:
    """The splits of an image folder exactly as the manifest lists them; changes are in `notes`."""
    classes = list(manifest["classes"])
    parts, skipped, notes, listed = {}, [], [], set()
    for split in SPLITS:
        entry = manifest[split]
        paths, labels = [root / p for p in entry["paths"]], list(entry["labels"])
        listed |= {p.resolve() for p in paths}
        now = [_size(p) if p.is_file() else -1 for p in paths]  # -1: gone
        here = [i for i, size in enumerate(now) if size >= 0]
        if len(here) < len(paths):
            gone = [entry["paths"][i] for i, size in enumerate(now) if size < 0]
            notes.append(f"{len(gone)} of the {len(paths)} {split} images are gone from {root} "
                         f"(e.g. {', '.join(gone[:3])}); using the {len(here)} left")
        sizes = entry.get("sizes")
        changed = [entry["paths"][i] for i in here if sizes and sizes[i] != now[i]]
        if changed:
            notes.append(f"{len(changed)} of the {split} images changed since training (another file under the same "
                         f"name: {', '.join(changed[:3])}); they are read as they are now")
        if not here:
            raise DataError(f"none of the run's {split} images are in {root} any more; the folder changed "
                            "completely since training")
        data, more = load_images([paths[i] for i in here], [labels[i] for i in here], classes,
                                 image_size or manifest["read_size"], cache_dir=cache_dir)
        parts[split] = data
        skipped += more
    added = [p for p in list_images(root) if p.resolve() not in listed]
    if added:
        notes.append(f"{len(added)} images were added to {root} since training and are not used (e.g. "
                     f"{', '.join(str(p.relative_to(root)) for p in added[:3])}); the run's own split is kept")
    return DataSplits(name, parts["train"], parts["val"], parts["test"], skipped, notes)

