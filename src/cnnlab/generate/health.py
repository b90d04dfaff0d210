"""How healthy a generator is: diversity against the real images (mode collapse), Frechet distance (FID-style)
and kernel inception distance (KID-style), all in a stated feature space that works offline."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from cnnlab.errors import CnnlabError, RunFolderError
from cnnlab.models import model_from_spec
from cnnlab.train import RunDir

IMAGENET_INPUT = 128  # side given to the ImageNet backbone: FID uses 299 with Inception; 128 keeps CPUs quick


@dataclass
class FeatureSpace:
    """`embed`: float images (N, C, S, S) in [0, 1] -> features (N, F) on the CPU, float64."""

    name: str  # said in every report next to the scores
    module: torch.nn.Module | None
    device: torch.device

    @torch.no_grad()
    def embed(self, images: torch.Tensor, batch_size: int = 128) -> np.ndarray:
        out = []
        for start in range(0, len(images), batch_size):
            x = images[start:start + batch_size].to(self.device).float()
            if self.module is None:  # pixels, downsampled: a crude space, but one that needs nothing
                f = F.adaptive_avg_pool2d(x, 16).flatten(1)
            else:  # NHWC: oneDNN's fast convolutions, twice the images a second on CPU (docs/benchmarks.md)
                x = x.contiguous(memory_format=torch.channels_last)
                f = self.module.forward_head(self.module.forward_features(x), pre_logits=True).flatten(1)
            out.append(f.double().cpu())
        return torch.cat(out).numpy()


def feature_space(name: str, channels: int, device: torch.device) -> FeatureSpace:
    """auto: EfficientNet-Lite0 with ImageNet weights when they are here, else pixels; run:PATH: the
    penultimate layer of a cnnlab classifier trained on the same kind of images."""
    if name in ("auto", "efficientnet_lite0"):
        from cnnlab.models import create_model

        try:
            net = create_model("timm:efficientnet_lite0", channels, 1000, IMAGENET_INPUT, pretrained=True,
                               input_size=IMAGENET_INPUT)
            return FeatureSpace(f"EfficientNet-Lite0 ImageNet features at {IMAGENET_INPUT} px (1280-d)",
                                net.to(device, memory_format=torch.channels_last).eval(), device)
        except CnnlabError:
            if name != "auto":
                raise
    if name in ("auto", "pixels"):
        return FeatureSpace("raw pixels pooled to 16x16 (no pretrained weights here)", None, device)
    if name.startswith("run:"):
        run = RunDir.open(name[4:], task="classify")
        ckpt = run.load_checkpoint(best=True)
        try:
            net = model_from_spec(ckpt["spec"])
            net.load_state_dict(ckpt["model"])
        except (KeyError, TypeError, ValueError, RuntimeError, CnnlabError):
            raise RunFolderError(f"{run.path} is not a classifier run (its checkpoint holds no classifier); "
                                 "train one with `cnnlab classify train`") from None
        return FeatureSpace(f"penultimate layer of the classifier {ckpt['spec']['name']} in {run.path}",
                            net.to(device).eval(), device)
    raise CnnlabError(f"unknown feature space {name!r}; use auto, efficientnet_lite0, pixels or run:PATH")


def mean_pairwise_distance(features: np.ndarray) -> float:
    """Mean Euclidean distance between distinct rows of (N, F) features."""
    x = torch.from_numpy(features)
    d = torch.cdist(x, x)
    n = len(x)
    return float(d.sum() / max(n * (n - 1), 1))


def diversity_ratio(fake: np.ndarray, real: np.ndarray) -> float:
    """Diversity of generated samples over that of real images, in one feature space: about 1 when the
    generator covers the data as widely; far below 1 when it collapses onto a few modes."""
    return mean_pairwise_distance(fake) / max(mean_pairwise_distance(real), 1e-12)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) between Gaussians fitted to (N, F) features.

    Exact, without the F x F matrix square root: the eigenvalues of S_a S_b are the squared singular values of
    X_a X_b^T / sqrt((n_a - 1)(n_b - 1)) (X centred), so the trace of the root is that matrix's nuclear norm, an
    n_a x n_b SVD (a second for 1,000 samples in 1,280 features, where sqrtm takes several). With more samples
    than features, the same trace is the nuclear norm of S_a^(1/2) S_b^(1/2), F x F."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    xa, xb = a - mu_a, b - mu_b
    na, nb = max(len(a) - 1, 1), max(len(b) - 1, 1)
    if min(len(a), len(b)) <= a.shape[1]:
        cross = np.linalg.svd(xa @ xb.T / np.sqrt(na * nb), compute_uv=False).sum()
    else:
        cross = np.linalg.svd(_psd_root(xa.T @ xa / na) @ _psd_root(xb.T @ xb / nb), compute_uv=False).sum()
    return float(((mu_a - mu_b) ** 2).sum() + (xa ** 2).sum() / na + (xb ** 2).sum() / nb - 2 * cross)


def _psd_root(s: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(s)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def precision_recall(fake: np.ndarray, real: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019): each set's manifold is the union of balls around
    its points reaching their k-th nearest neighbour. Precision: the share of generated samples inside the real
    manifold (are they realistic?); recall: the share of real samples inside the generated one (is the data
    covered?). Both 0 to 1; a collapsed generator has recall near 0."""
    x, y = torch.from_numpy(np.asarray(fake, dtype=np.float64)), torch.from_numpy(np.asarray(real, dtype=np.float64))
    if min(len(x), len(y)) <= k:
        raise CnnlabError(f"precision and recall need more than k={k} samples in each set, got {len(x)} and {len(y)}")
    r_fake, r_real = _kth_radius(x, k), _kth_radius(y, k)
    d = torch.cdist(x, y)  # (fake, real)
    precision = (d <= r_real.unsqueeze(0)).any(1).double().mean().item()
    recall = (r_fake.unsqueeze(0) >= d.T).any(1).double().mean().item()
    return precision, recall


def _kth_radius(x: torch.Tensor, k: int) -> torch.Tensor:
    d = torch.cdist(x, x)
    d.fill_diagonal_(float("inf"))
    return d.topk(k, dim=1, largest=False).values[:, -1]  # distance to the k-th nearest other sample


def scores(fake: np.ndarray, real: np.ndarray, seed: int = 0) -> dict[str, float]:
    """FID-style, KID-style, precision and recall of `fake` against `real` features (N, F)."""
    kid, kid_std = kernel_distance(fake, real, subset_size=min(200, len(fake), len(real)), seed=seed)
    precision, recall = precision_recall(fake, real)
    return {"fid": frechet_distance(fake, real), "kid": kid, "kid_std": kid_std, "precision": precision,
            "recall": recall}


@dataclass
class RealHalves:
    """Two disjoint halves of the real features, of `size` rows each: generated samples are scored against `b`,
    and `floor` holds the scores of `a` against `b` (the same sizes): what a perfect generator would get, the
    real-vs-real floor beside which a score means something."""

    a: np.ndarray
    b: np.ndarray
    floor: dict[str, float]

    @classmethod
    def split(cls, features: np.ndarray, size: int, seed: int = 0) -> RealHalves:
        size = min(size, len(features) // 2)
        order = np.random.default_rng(seed).permutation(len(features))
        a, b = features[order[:size]], features[order[size:2 * size]]
        return cls(a, b, scores(a, b, seed))


def kernel_distance(a: np.ndarray, b: np.ndarray, subsets: int = 20, subset_size: int = 200, seed: int = 0
                    ) -> tuple[float, float]:
    """KID: unbiased MMD^2 with the cubic polynomial kernel (x.y / F + 1)^3, mean and std over subsets."""
    rng = np.random.default_rng(seed)
    m = min(subset_size, len(a), len(b))
    dim = a.shape[1]
    values = []
    for _ in range(subsets):
        x, y = a[rng.choice(len(a), m, replace=False)], b[rng.choice(len(b), m, replace=False)]
        kxx, kyy, kxy = ((x @ x.T / dim + 1) ** 3, (y @ y.T / dim + 1) ** 3, (x @ y.T / dim + 1) ** 3)
        off = ~np.eye(m, dtype=bool)
        values.append(kxx[off].mean() + kyy[off].mean() - 2 * kxy.mean())
    return float(np.mean(values)), float(np.std(values))
