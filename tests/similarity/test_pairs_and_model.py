import pytest
import torch

from cnnlab.errors import DataError
from cnnlab.models import create_model
from cnnlab.similarity.model import SiameseHead, SimilarityNet
from cnnlab.similarity.pairs import make_pairs


def test_pairs_are_balanced_and_labelled_right():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 19 + [3])  # uneven, and a class of one
    a, b, target = make_pairs(labels, 1001, torch.Generator().manual_seed(0))
    assert len(a) == len(b) == len(target) == 1001
    assert int(target.sum()) == 500  # n // 2 same-class pairs
    same = target == 1
    assert torch.equal(labels[a[same]], labels[b[same]]) and bool((a[same] != b[same]).all())
    assert bool((labels[a[~same]] != labels[b[~same]]).all())
    assert len(torch.unique(labels[a])) == 4  # anchors reach every class, the singleton in different pairs
    again = make_pairs(labels, 1001, torch.Generator().manual_seed(0))
    assert torch.equal(a, again[0]) and torch.equal(b, again[1])


def test_pairs_need_two_classes_and_a_same_class_partner():
    with pytest.raises(DataError, match="two classes"):
        make_pairs(torch.zeros(10, dtype=torch.long), 4, torch.Generator())
    with pytest.raises(DataError, match="at least two images"):
        make_pairs(torch.arange(5), 4, torch.Generator())


def test_siamese_head_is_the_seeds():
    head = SiameseHead(10)
    sizes = [(m.in_features, m.out_features) for m in head.modules() if isinstance(m, torch.nn.Linear)]
    assert sizes == [(10, 16), (16, 4), (4, 1)]
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in head.modules()) == 2


@pytest.mark.parametrize("method", ["siamese", "metric"])
def test_network_shapes_on_densenet_seed(method):
    backbone = create_model("densenet-seed", 1, 10, 28)
    net = SimilarityNet(backbone, method, embedding_dim=32)
    x = torch.rand(4, 1, 28, 28)
    assert net.feature_dim == 273  # the seed DenseNet's pooled features (its classifier takes 273)
    z = net.embed(x)
    assert z.shape == (4, 273 if method == "siamese" else 32)
    assert torch.allclose(z.norm(dim=1), torch.ones(4), atol=1e-5)
    logits = net.pair_logits(x, x.flip(0))
    assert logits.shape == (4,) and torch.isfinite(logits).all()
    logits.sum().backward()
    assert all(p.grad is not None for p in net.head.parameters())
