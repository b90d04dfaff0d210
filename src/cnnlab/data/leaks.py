"""--drop-leaks: validation and test images with an exact or near duplicate in training are left out, as
`cnnlab data audit` finds them (cnnlab.data.audit.duplicates), so that held-out accuracy is measured on pictures
the model has not seen."""

from __future__ import annotations

import hashlib

import numpy as np
import torch
import torch.nn.functional as F

from cnnlab.data.images import DataSplits, ImageData

THUMB = 16


def thumbnails(data: ImageData, batch: int = 1024) -> np.ndarray:
    """uint8 (N, 16, 16) grey thumbnails of an ImageData's images, `batch` images at a time (bounded memory)."""
    out = [np.zeros((0, THUMB, THUMB), np.uint8)]
    for start in range(0, len(data), batch):
        x = data.images[start:start + batch].float()  # (B, C, H, W)
        grey = x.mean(1, keepdim=True) if x.shape[1] == 3 else x[:, :1]
        out.append(F.interpolate(grey, size=(THUMB, THUMB), mode="area")[:, 0].round().to(torch.uint8).numpy())
    return np.concatenate(out)


def drop_leaks(splits: DataSplits) -> DataSplits:
    """The splits without the validation and test images that duplicate a training image; `leaks_dropped` and a
    note say how many."""
    from cnnlab.data.audit.duplicates import find_pairs

    parts = [splits.train, splits.val, splits.test]
    split = np.concatenate([np.full(len(p), i) for i, p in enumerate(parts)])
    arrays = [p.images.numpy() for p in parts]
    digests = [hashlib.sha1(a[j].tobytes()).hexdigest() for a in arrays for j in range(len(a))]
    pairs = find_pairs(digests, np.concatenate([thumbnails(p) for p in parts]))
    offsets = np.cumsum([0] + [len(p) for p in parts])
    leaked = {p.b if split[p.a] == 0 else p.a for p in pairs if (split[p.a] == 0) != (split[p.b] == 0)}
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
