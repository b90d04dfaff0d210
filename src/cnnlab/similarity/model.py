"""The Siamese network (two branches sharing one zoo feature extractor, the seed's head on the concatenated
features) and the metric-learning embedding network; both answer `embed` for search."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.models import ImageClassifier, model_from_spec
from cnnlab.models.base import set_trainable

COSINE_LOGIT_SCALE = 10.0  # the metric model's pair score is sigmoid(10 * (cosine - 0.5)); the
# multi-similarity loss pulls same-class pairs above cosine 0.5 and pushes the others below


class SiameseHead(nn.Module):
    """The seed's head: Dense 16, BatchNorm, ReLU, Dense 4, BatchNorm, ReLU, Dense 1 (a logit here; the
    sigmoid is in the loss and in `pair_scores`)."""

    def __init__(self, in_features: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(in_features, 16), nn.BatchNorm1d(16), nn.ReLU(inplace=True),
            nn.Linear(16, 4), nn.BatchNorm1d(4), nn.ReLU(inplace=True),
            nn.Linear(4, 1),
        )

    def forward(self, pair_features: torch.Tensor) -> torch.Tensor:
        return self.layers(pair_features).squeeze(1)  # (N, 2F) -> (N,)


class SimilarityNet(nn.Module):
    """A zoo backbone with its preprocessing, used as a feature extractor, plus the method's head.

    Takes float images (N, C, H, W) in [0, 1]. `embed` returns L2-normalised vectors (N, D): the backbone's
    features for the Siamese method, a linear projection of them for the metric method.
    """

    def __init__(self, backbone: ImageClassifier, method: str, embedding_dim: int = 128) -> None:
        super().__init__()
        self.backbone, self.method = backbone, method
        c, s, _ = backbone.input_size
        was_training = backbone.training
        backbone.eval()
        with torch.no_grad():
            self.feature_dim = self.features(torch.zeros(1, c, s, s)).shape[1]
        backbone.train(was_training)
        if method == "siamese":
            self.head: nn.Module = SiameseHead(2 * self.feature_dim)
            self.embedding_dim = self.feature_dim
        else:
            self.head = nn.Linear(self.feature_dim, embedding_dim)
            self.embedding_dim = embedding_dim

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, F): the backbone up to, not including, its classifier."""
        b = self.backbone
        return b.forward_head(b.forward_features(x), pre_logits=True).flatten(1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)
        if self.method == "metric":
            f = self.head(f)
        return F.normalize(f.float(), dim=1)

    def pair_logits(self, xa: torch.Tensor, xb: torch.Tensor) -> torch.Tensor:
        """(N,) logits that a and b show the same class. Both branches run as one batch (shared weights)."""
        fa, fb = self.features(torch.cat([xa, xb])).chunk(2)  # (2N, F) -> 2 x (N, F)
        return self.logits_from_features(fa, fb)

    def logits_from_features(self, fa: torch.Tensor, fb: torch.Tensor) -> torch.Tensor:
        """(N, F), (N, F) -> (N,) pair logits."""
        if self.method == "siamese":
            return self.head(torch.cat([fa, fb], 1))
        za, zb = F.normalize(self.head(fa).float(), dim=1), F.normalize(self.head(fb).float(), dim=1)
        return COSINE_LOGIT_SCALE * ((za * zb).sum(1) - 0.5)

    def pair_scores(self, xa: torch.Tensor, xb: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.pair_logits(xa, xb).float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(x)

    # the transfer-learning phases freeze everything but the head
    def head_parameters(self) -> list[nn.Parameter]:
        return list(self.head.parameters())

    def set_trainable(self, part: str) -> None:
        set_trainable(self, self.head_parameters(), part)

    def describe(self) -> dict:
        return {"spec": self.backbone.spec.to_dict(), "method": self.method, "embedding_dim": self.embedding_dim}


def similarity_net_from(description: dict) -> SimilarityNet:
    """Rebuild (untrained) the network that `describe()` described."""
    backbone = model_from_spec(description["spec"])
    dim = description["embedding_dim"]
    return SimilarityNet(backbone, description["method"], dim)
