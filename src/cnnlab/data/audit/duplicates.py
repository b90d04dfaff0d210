"""Exact and near duplicates among a data set's images, and the ones that cross from training into a held-out
split (leakage: the test accuracy of a model that saw the same picture in training says little).

Exact: the same content digest. Near: a candidate pair has 64-bit difference hashes (dHash: is each pixel of a
9x8 grey thumbnail brighter than its right neighbour) at most NEAR_BITS apart, found with faiss's binary index;
it counts when, besides, the two 16x16 grey thumbnails differ by at most NEAR_LEVELS grey levels on average. Such
images look the same at thumbnail size: re-encodings, resizes, small crops or colour shifts of one picture."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

NEAR_BITS = 6  # of 64
NEAR_LEVELS = 8.0  # mean absolute difference of the 16x16 grey thumbnails, 0..255
NEIGHBOURS = 8  # candidates looked at per image
THUMB = 16  # side of the grey thumbnail every image is reduced to (near duplicates are judged on it)


@dataclass(frozen=True)
class Pair:
    a: int  # rows of the Scan, a < b
    b: int
    kind: str  # exact or near
    bits: int  # Hamming distance of the two hashes
    levels: float  # mean grey-level difference of the thumbnails


def thumbnails(images: torch.Tensor, batch: int = 4096) -> np.ndarray:
    """uint8 (N, C, H, W) images -> uint8 (N, THUMB, THUMB) grey thumbnails, `batch` images at a time."""
    out = [np.zeros((0, THUMB, THUMB), np.uint8)]
    for start in range(0, len(images), batch):
        x = images[start:start + batch].float()  # (B, C, H, W)
        grey = x.mean(1, keepdim=True) if x.shape[1] == 3 else x[:, :1]
        out.append(F.interpolate(grey, size=(THUMB, THUMB), mode="area")[:, 0].round().to(torch.uint8).numpy())
    return np.concatenate(out)


def pixel_digests(images: torch.Tensor) -> list[str]:
    """sha1 of each image's pixels (uint8 (N, C, H, W)): equal digests, equal images."""
    array = images.numpy()
    return [hashlib.sha1(array[j].tobytes()).hexdigest() for j in range(len(array))]


def dhash(thumbs: np.ndarray) -> np.ndarray:
    """uint8 (N, S, S) grey thumbnails -> uint8 (N, 8): 64 bits each."""
    x = torch.from_numpy(thumbs).float().unsqueeze(1)  # (N, 1, S, S)
    small = F.interpolate(x, size=(8, 9), mode="area")[:, 0]  # (N, 8, 9)
    bits = (small[:, :, 1:] > small[:, :, :-1]).numpy().reshape(len(thumbs), 64)  # (N, 64)
    return np.packbits(bits, axis=1)


def find_pairs(digests: list[str], thumbs: np.ndarray) -> list[Pair]:
    """Every exact pair (within a group of equal digests: each member with the group's first) and every near pair."""
    pairs: dict[tuple[int, int], Pair] = {}
    first: dict[str, int] = {}
    for row, digest in enumerate(digests):
        if digest in first:
            pairs[(first[digest], row)] = Pair(first[digest], row, "exact", 0, 0.0)
        else:
            first[digest] = row
    if len(thumbs) < 2:
        return list(pairs.values())
    import faiss

    hashes = dhash(thumbs)
    index = faiss.IndexBinaryFlat(64)
    index.add(hashes)
    k = min(NEIGHBOURS + 1, len(thumbs))
    flat = thumbs.reshape(len(thumbs), -1).astype(np.int16)
    for start in range(0, len(thumbs), 8192):  # bounded memory: (8192, k) answers at a time
        distance, found = index.search(hashes[start:start + 8192], k)
        for i, (row_d, row_f) in enumerate(zip(distance, found, strict=True)):
            a = start + i
            for bits, b in zip(row_d, row_f, strict=True):
                if b < 0 or b == a or bits > NEAR_BITS:
                    continue
                key = (min(a, int(b)), max(a, int(b)))
                if key in pairs:
                    continue
                levels = float(np.abs(flat[key[0]] - flat[key[1]]).mean())
                if levels <= NEAR_LEVELS:
                    pairs[key] = Pair(*key, "near", int(bits), levels)
    return sorted(pairs.values(), key=lambda p: (p.kind != "exact", p.levels, p.a, p.b))


def crosses(pair: Pair, split: np.ndarray) -> bool:
    """True when one image of the pair is in training (split 0) and the other in a held-out split."""
    sa, sb = int(split[pair.a]), int(split[pair.b])
    return (sa == 0) != (sb == 0)


def leaked_rows(pairs: list[Pair], split: np.ndarray) -> set[int]:
    """The held-out rows (validation or test) with a duplicate in training."""
    rows = set()
    for p in pairs:
        if crosses(p, split):
            rows.add(p.b if split[p.a] == 0 else p.a)
    return rows
