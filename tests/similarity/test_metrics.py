"""Retrieval metrics as the field computes them (cross-checked against pytorch-metric-learning), and the
verdict when a trained embedding finds no more than raw pixels."""

import numpy as np
import pytest
import torch

from cnnlab.similarity.metrics import retrieval_scores
from cnnlab.similarity.training import verdict


def embeddings(seed: int, n: int = 300, classes: int = 6, dim: int = 16, noise: float = 1.0):
    """Noisy unit vectors around 6 class centres (the same centres for every seed)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    centres = np.random.default_rng(99).normal(size=(classes, dim))
    x = centres[labels] + noise * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), labels


@pytest.mark.parametrize("seed", [0, 1])
def test_recall_and_map_at_r_equal_pytorch_metric_learning(seed):
    from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
    from pytorch_metric_learning.utils.inference import FaissKNN

    query, q_labels = embeddings(seed)
    gallery, g_labels = embeddings(seed + 10, n=500)
    ours = retrieval_scores(query, q_labels, gallery, g_labels, ks=(1,))
    calc = AccuracyCalculator(include=("precision_at_1", "mean_average_precision_at_r"),
                              knn_func=FaissKNN(index_init_fn=__import__("faiss").IndexFlatIP, reset_before=True))
    theirs = calc.get_accuracy(torch.from_numpy(query), torch.from_numpy(q_labels), torch.from_numpy(gallery),
                               torch.from_numpy(g_labels))
    assert ours["recall@1"] == pytest.approx(theirs["precision_at_1"], abs=1e-6)  # at k = 1 they are one thing
    assert ours["map@r"] == pytest.approx(theirs["mean_average_precision_at_r"], abs=1e-5)
    assert 0.2 < ours["map@r"] < 0.9  # a case where the two could disagree, not a trivial one


def test_a_model_no_better_than_pixels_gets_a_verdict():
    pixels = {"embedding": "raw pixels", "recall@1": 0.78, "map@r": 0.33}
    assert verdict([pixels, {"recall@1": 0.85, "map@r": 0.60}]) == ""
    said = verdict([pixels, {"recall@1": 0.62, "map@r": 0.13}])
    assert said.startswith("no better than raw pixels (map@r 0.130 vs 0.330, recall@1 0.620 vs 0.780)")
