"""How healthy a generator is: diversity against the real images (mode collapse), Frechet distance (FID-style)
and kernel inception distance (KID-style), all in a stated feature space that works offline."""

from __future__ import annotations

import warnings
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
            else:
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
                                net.to(device).eval(), device)
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
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) between Gaussians fitted to (N, F) features."""
    from scipy import linalg

    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():  # near-singular covariances (few samples) are expected; handled below
        warnings.simplefilter("ignore")
        root = linalg.sqrtm(s_a @ s_b)
        if not np.isfinite(root).all():  # nudge both diagonals, as the FID reference does
            eps = np.eye(len(s_a)) * 1e-6
            root = linalg.sqrtm((s_a + eps) @ (s_b + eps))
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b - 2 * np.real(root)))


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
