"""--drop-leaks: validation and test images with an exact or near duplicate in training are left out, as
`cnnlab data audit` finds them (cnnlab.data.audit.duplicates), so that held-out accuracy is measured on pictures
the model has not seen."""

from __future__ import annotations

import numpy as np
import torch

from cnnlab.data.images import DataSplits


def leaked_held_out(parts: list[torch.Tensor]) -> list[set[int]]:
    """For uint8 image tensors (N, C, H, W) of training first, then each held-out split: the rows of each held-out
    split that have an exact or near duplicate in training."""
    from cnnlab.data.audit.duplicates import find_pairs, leaked_rows, pixel_digests, thumbnails

    split = np.concatenate([np.full(len(p), i) for i, p in enumerate(parts)])
    digests = [d for p in parts for d in pixel_digests(p)]
    leaked = leaked_rows(find_pairs(digests, np.concatenate([thumbnails(p) for p in parts])), split)
    offsets = np.cumsum([0] + [len(p) for p in parts])
    return [{int(r - offsets[i]) for r in leaked if split[r] == i} for i in range(1, len(parts))]


def kept_rows(n: int, dropped: set[int]) -> torch.Tensor:
    """The rows 0..n-1 not in `dropped`, as an index tensor."""
    return torch.tensor([j for j in range(n) if j not in dropped], dtype=torch.long)


def leak_note(dropped: dict[str, int]) -> str:
    return ("--drop-leaks: left out " + " and ".join(f"{n} {'validation' if k == 'val' else k}" for k, n in
                                                     dropped.items()) +
            " images that duplicate a training image (`cnnlab data audit` shows the pairs)")


def drop_leaks(splits: DataSplits) -> DataSplits:
    """The splits without the validation and test images that duplicate a training image; `leaks_dropped` and a
    note say how many."""
    leaked = leaked_held_out([splits.train.images, splits.val.images, splits.test.images])
    kept, dropped = [], {}
    for rows, (name, part) in zip(leaked, (("val", splits.val), ("test", splits.test)), strict=True):
        dropped[name] = len(rows)
        kept.append(part.subset(kept_rows(len(part), rows)) if rows else part)
    notes = list(splits.notes)
    if any(dropped.values()):
        notes.append(leak_note(dropped))
    return DataSplits(splits.name, splits.train, kept[0], kept[1], list(splits.skipped), notes, dropped)
