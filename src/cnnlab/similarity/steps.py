"""What one training step computes for each method; the shared fit loop does the rest."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cnnlab.train import StepResult


def siamese_step(model, pair: tuple[torch.Tensor, ...], target: torch.Tensor, rank=None) -> StepResult:
    """Binary cross-entropy on same/different pairs (the seed's loss); acc = pairs right at 0.5. With `rank` (a
    metric loss) and pairs that carry their class labels (xa, xb, ya, yb), the shared features, which search
    ranks by, are also trained for ranking: loss = BCE + rank(unit features of both branches, their labels)."""
    fa, fb = model.features(torch.cat(pair[:2])).chunk(2)  # both branches as one batch (shared weights)
    logits = model.logits_from_features(fa, fb).float()  # (B,)
    loss = F.binary_cross_entropy_with_logits(logits, target)
    if rank is not None and len(pair) == 4:
        loss = loss + rank(F.normalize(torch.cat([fa, fb]).float(), dim=1), torch.cat(pair[2:]))
    return StepResult(loss, {"acc": ((logits > 0).float() == target).sum()}, len(target))


def ranking_siamese_step(loss_name: str):
    """The Siamese step with its features also trained for ranking by the metric loss `loss_name`."""
    rank = metric_loss(loss_name)

    def step(model, pair: tuple[torch.Tensor, ...], target: torch.Tensor) -> StepResult:
        return siamese_step(model, pair, target, rank)

    return step


def metric_loss(name: str):
    """A pytorch-metric-learning loss with its miner: (embeddings (B, D), labels (B,)) -> loss."""
    from pytorch_metric_learning import losses, miners

    if name == "contrastive":
        loss, miner = losses.ContrastiveLoss(pos_margin=0.0, neg_margin=1.0), miners.PairMarginMiner(0.2, 0.8)
    elif name == "triplet":
        loss, miner = losses.TripletMarginLoss(margin=0.2), miners.TripletMarginMiner(0.2, type_of_triplets="semihard")
    elif name == "multi-similarity":
        loss, miner = losses.MultiSimilarityLoss(alpha=2, beta=50, base=0.5), miners.MultiSimilarityMiner(0.1)
    else:
        raise ValueError(f"unknown metric loss {name!r}")

    def compute(embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return loss(embeddings, labels, miner(embeddings, labels))

    return compute


def nearest_neighbour_hits(embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """How many items' nearest other item in the batch has their class (in-batch Precision@1)."""
    sim = embeddings @ embeddings.T  # (B, B)
    sim.fill_diagonal_(-float("inf"))
    return (labels[sim.argmax(1)] == labels).sum()


def metric_step(loss_name: str):
    compute = metric_loss(loss_name)

    def step(model, x: torch.Tensor, y: torch.Tensor) -> StepResult:
        z = model.embed(x).float()  # (B, D), unit length
        loss = compute(z, y)
        return StepResult(loss, {"acc": nearest_neighbour_hits(z.detach(), y)}, len(y))

    return step
