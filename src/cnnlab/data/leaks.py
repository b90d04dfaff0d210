"""--drop-leaks: validation and test images with an exact or near duplicate in training are left out, as
`cnnlab data audit` finds them (cnnlab.data.audit.duplicates), so that held-out accuracy is measured on pictures
the model has not seen."""

from __future__ import annotations

import numpy as np
import torch

from cnnlab.data.images import DataSplits


def drop_leaks(splits: DataSplits) -> DataSplits:
    """The splits without the validation and test images that duplicate a training image; `leaks_dropped` and a
    note say how many."""
    from cnnlab.data.audit.duplicates import find_pairs, leaked_rows, pixel_digests, thumbnails

    parts = [splits.train, splits.val, splits.test]
    split = np.concatenate([np.full(len(p), i) for i, p in enumerate(parts)])
    digests = [d for p in parts for d in pixel_digests(p.images)]
    leaked = leaked_rows(find_pairs(digests, np.concatenate([thumbnails(p.images) for p in parts])), split)
    offsets = np.cumsum([0] + [len(p) for p in parts])
    kept, dropped = [], {}
    for i, (name, part) in enumerate((("val", splits.val), ("test", splits.test)), start=1):
        rows = {r - offsets[i] for r in leaked if split[r] == i}
        dropped[name] = len(rows)
        keep = torch.tensor([j for j in range(len(part)) if j not in rows], dtype=torch.long)
        kept.append(part.subset(keep) if rows else part)
    notes = list(splits.notes)
    if any(dropped.values()):
        notes.append(f"--drop-leaks: left out {dropped['val']} validation and {dropped['test']} test images that "
                     "duplicate a training image (`cnnlab data audit` shows the pairs)")
    return DataSplits(splits.name, splits.train, kept[0], kept[1], list(splits.skipped), notes, dropped)
