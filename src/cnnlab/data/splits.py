"""Seeded, stratified splits."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split

from cnnlab.data.images import ImageData
from cnnlab.errors import DataError
from cnnlab.options import said


def stratified_split(data: ImageData, fraction: float, seed: int,
                     notes: list[str] | None = None) -> tuple[ImageData, ImageData]:
    """Split off `fraction` of the samples, keeping class proportions; same seed, same split.

    A class with a single image cannot be on both sides: it stays on the kept side (and `notes` says so),
    while every other class is still stratified. Too few images to hold out one per class is an error."""
    if not 0 < fraction < 1:
        raise ValueError(f"split fraction must be in (0, 1), got {fraction}")
    labels = data.labels.numpy()
    counts = np.bincount(labels, minlength=len(data.classes))
    lonely = np.flatnonzero(counts == 1)
    if len(lonely) and notes is not None:
        names = ", ".join(data.classes[c] for c in lonely[:5])
        notes.append(f"{len(lonely)} class(es) have a single image ({names}); it is used for training only, so "
                     "these classes are not validated or tested. Add images to them")
    index = np.flatnonzero(~np.isin(labels, lonely))
    present = int((counts >= 2).sum())
    held_count = int(np.ceil(fraction * len(index)))
    if held_count < 1 or len(index) - held_count < 1:
        raise DataError(f"{len(data)} images are too few to hold out {fraction:.0%} of them; add images, or change "
                        f"{said('val_fraction')}")
    stratify = labels[index] if present <= held_count <= len(index) - present else None
    if stratify is None and notes is not None:
        notes.append(f"{len(index)} images in {present} classes are too few to hold out {fraction:.0%} with every "
                     "class on both sides: that split was drawn at random, so some classes may be missing from it")
    keep, held = train_test_split(index, test_size=held_count, random_state=seed, stratify=stratify)
    keep = np.concatenate([keep, np.flatnonzero(np.isin(labels, lonely))])
    return data.subset(np.sort(keep)), data.subset(np.sort(held))
