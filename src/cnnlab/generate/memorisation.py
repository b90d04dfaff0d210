"""Does the generator copy its training photos? Each generated sample beside its nearest real training image,
in the run's feature space, and a count of the samples that are near copies.

A sample counts as a near copy when it lies closer to a training image than COPY_SHARE of the median distance
between a training image and its nearest other training image: real photos of the data set are never that
close to each other (exact duplicates aside), so a sample that is that close reproduces one of them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

COPY_SHARE = 0.5
PAIRS_SHOWN = 8  # the closest pairs drawn in memorisation.png


@dataclass
class Memorisation:
    distance: np.ndarray  # (N,) each sample's distance to its nearest training image
    nearest: np.ndarray  # (N,) that image's index among the real features given
    spacing: float  # median nearest-neighbour distance among the training images
    threshold: float  # COPY_SHARE * spacing

    @property
    def copies(self) -> int:
        return int((self.distance < self.threshold).sum())

    def summary(self) -> dict:
        return {"memorised": self.copies, "memorisation_samples": len(self.distance),
                "nearest_real_median": float(np.median(self.distance)), "real_spacing": self.spacing,
                "copy_threshold": self.threshold}


def nearest(queries: np.ndarray, pool: np.ndarray, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Distance to, and index of, the nearest row of `pool` (M, F) for each row of `queries` (N, F)."""
    q = torch.from_numpy(np.asarray(queries, dtype=np.float32))
    best_d = torch.full((len(q),), float("inf"))
    best_i = torch.zeros(len(q), dtype=torch.long)
    for start in range(0, len(pool), chunk):
        d = torch.cdist(q, torch.from_numpy(np.asarray(pool[start:start + chunk], dtype=np.float32)))
        value, index = d.min(1)
        better = value < best_d
        best_d[better], best_i[better] = value[better], index[better] + start
    return best_d.numpy(), best_i.numpy()


def real_spacing(real: np.ndarray, sample: int = 500, seed: int = 0) -> float:
    """Median distance from a training image (a sample of them) to its nearest other, exact duplicates left out."""
    rows = torch.from_numpy(np.random.default_rng(seed).permutation(len(real))[:sample])
    x = torch.from_numpy(np.asarray(real, dtype=np.float64))
    d = torch.cdist(x[rows], x, compute_mode="donot_use_mm_for_euclid_dist")  # (sample, M), exact
    d[torch.arange(len(rows)), rows] = float("inf")  # the image itself, by index
    d[d <= 1e-9 * x.norm(dim=1).max()] = float("inf")  # and its exact copies
    return float(np.median(d.min(1).values.numpy()))


def check(fake: np.ndarray, real: np.ndarray, seed: int = 0) -> Memorisation:
    """Generated features (N, F) against the training images' (M, F)."""
    distance, index = nearest(fake, real)
    spacing = real_spacing(real, seed=seed)
    return Memorisation(distance, index, spacing, COPY_SHARE * spacing)


def pairs_grid(fake: torch.Tensor, real: torch.Tensor, memo: Memorisation, shown: int = PAIRS_SHOWN
               ) -> tuple[torch.Tensor, list[str]]:
    """The `shown` closest (generated, nearest real) pairs as a (2, shown, C, S, S) grid in [0, 1] and column
    labels; `fake` float in [0, 1], `real` uint8, both indexed as in memo."""
    order = np.argsort(memo.distance)[:shown]
    top = fake[torch.from_numpy(order)].float()
    near = real[torch.from_numpy(memo.nearest[order])].float() / 255
    labels = [f"{memo.distance[i] / memo.spacing:.2f}" + (" copy" if memo.distance[i] < memo.threshold else "")
              for i in order]
    return torch.stack([top, near]), labels
