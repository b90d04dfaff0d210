"""One way to make a zoo model for a training set: the whitening layer of airnet is fitted in every task."""

import torch

from cnnlab.data.config import DataConfig
from cnnlab.data.datasets import load_dataset
from cnnlab.models.fast import Whitening
from cnnlab.similarity.config import SimilarityConfig
from cnnlab.similarity.training import build_network


def whitening(model) -> torch.Tensor:
    return next(m for m in model.modules() if isinstance(m, Whitening)).weight.detach().clone()


def test_similarity_backbones_get_data_fitted_whitening_filters():
    data = load_dataset(DataConfig("digits", image_size=16, train_per_class=30))
    cfg = SimilarityConfig(data=DataConfig("digits", image_size=16), model="airnet", method="metric")
    first, second = whitening(build_network(cfg, data, seed=1)), whitening(build_network(cfg, data, seed=2))
    torch.manual_seed(3)
    untouched = whitening(Whitening(1))
    assert torch.allclose(first, second)  # set by the data, not by the seed
    assert not torch.allclose(first, untouched)
