"""Seeded, stratified splits."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split

from cnnlab.data.images import ImageData


def stratified_split(data: ImageData, fraction: float, seed: int) -> tuple[ImageData, ImageData]:
    """Split off `fraction` of the samples, keeping class proportions; same seed, same split."""
    if not 0 < fraction < 1:
        raise ValueError(f"split fraction must be in (0, 1), got {fraction}")
    index = np.arange(len(data))
    labels = data.labels.numpy()
    counts = np.bincount(labels)
    stratify = labels if counts[counts > 0].min() >= 2 else None
    keep, held = train_test_split(index, test_size=fraction, random_state=seed, stratify=stratify)
    return data.subset(np.sort(keep)), data.subset(np.sort(held))
