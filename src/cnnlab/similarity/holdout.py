"""Held-out classes, the "Metric Learning Reality Check" protocol (Musgrave et al. 2020): the last N classes
are never trained on, and the embedding is judged on them too, as search meets images of new kinds.

Seen classes: their test images searched among their training images, as always. Held-out classes: their test
images searched among their own training-split images, which training never saw."""

from __future__ import annotations

import torch

from cnnlab.data.images import DataSplits, ImageData
from cnnlab.errors import DataError
from cnnlab.options import said


def _only(data: ImageData, classes: torch.Tensor) -> ImageData:
    return data.subset(torch.nonzero(torch.isin(data.labels, classes)).squeeze(1))


def split_classes(data: DataSplits, holdout: int) -> tuple[DataSplits, DataSplits | None]:
    """(the seen classes' splits, the held-out classes' splits, None when `holdout` is 0)."""
    if not holdout:
        return data, None
    n = len(data.classes)
    if holdout > n - 2:
        raise DataError(f"{said('holdout_classes')} {holdout} leaves {n - holdout} of the {n} classes to train on; "
                        f"hold out at most {n - 2}, so at least two classes are trained on")
    seen, held = torch.arange(n - holdout), torch.arange(n - holdout, n)
    held_splits = data.map(lambda split: _only(split, held))
    if len(held_splits.train) < 1 or len(held_splits.test) < 1:
        raise DataError("the held-out classes have no training or test images to search among; hold out "
                        "other classes or use a dataset with a test split")
    return data.map(lambda split: _only(split, seen)), held_splits


def holdout_note(data: DataSplits, holdout: int) -> str:
    names = data.classes[len(data.classes) - holdout:]
    return (f"{said('holdout_classes')} {holdout}: {', '.join(names)} never trained on; judged apart on "
            "their own images")
