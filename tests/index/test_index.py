import numpy as np
import pytest
import torch

from cnnlab.errors import IndexFolderError
from cnnlab.index.core import EmbeddingIndex
from cnnlab.index.folder import locate
from cnnlab.similarity.metrics import map_at_r, recall_at_k, retrieval_scores

REF = {"kind": "pixels", "channels": 1, "image_size": 4}


def unit(n, d, seed=0, clusters=0):
    """n random unit vectors; with clusters, scattered around that many random centres (like embeddings)."""
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, d)).astype(np.float32)
    if clusters:
        centres = np.random.default_rng(99).normal(size=(clusters, d)).astype(np.float32)
        v = centres[rng.integers(clusters, size=n)] + 0.3 * v
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def filled(kind="flat", n=500, d=16, clusters=0):
    index = EmbeddingIndex.create(d, REF, kind=kind, n_expected=n)
    labels = [f"c{i % 3}" for i in range(n)]
    images = torch.randint(0, 256, (n, 1, 4, 4), dtype=torch.uint8)
    index.add(unit(n, d, clusters=clusters), labels, [f"img{i}.png" for i in range(n)], images)
    return index, images


def test_exact_search_equals_brute_force_numpy():
    index, _ = filled()
    queries = unit(20, 16, seed=1)
    scores, ids = index.search(queries, 7)
    brute = queries @ unit(500, 16).T  # (20, 500)
    expected = np.argsort(-brute, axis=1)[:, :7]
    assert np.array_equal(ids, expected)
    assert np.allclose(scores, np.take_along_axis(brute, expected, 1), atol=1e-5)


def test_save_load_round_trip_gives_the_same_neighbours(tmp_path):
    index, images = filled()
    queries = unit(10, 16, seed=2)
    before = index.search(queries, 5)
    index.save(tmp_path / "idx")
    loaded = EmbeddingIndex.load(tmp_path / "idx")
    after = loaded.search(queries, 5)
    assert np.array_equal(before[1], after[1]) and np.allclose(before[0], after[0])
    assert loaded.classes == ["c0", "c1", "c2"] and loaded.embedder == REF
    hit = loaded.neighbours(queries[:1], 1)[0][0]
    assert hit.path == f"img{hit.id}.png" and hit.label == f"c{hit.id % 3}"
    assert np.array_equal(loaded.thumbnail(3)[..., 0], images[3, 0].numpy())


def test_append_keeps_ids_and_classes(tmp_path):
    index, _ = filled(n=10)
    index.save(tmp_path / "idx")
    again = EmbeddingIndex.load(tmp_path / "idx")
    extra = unit(3, 16, seed=9)
    again.add(extra, ["new", None, "c1"], ["a", "b", "c"], torch.zeros(3, 3, 8, 8, dtype=torch.uint8))
    again.save(tmp_path / "idx")
    loaded = EmbeddingIndex.load(tmp_path / "idx")
    assert len(loaded) == 13 and loaded.classes == ["c0", "c1", "c2", "new"]
    assert [loaded.item(i).label for i in (10, 11, 12)] == ["new", None, "c1"]
    assert loaded.search(extra[:1], 1)[1][0, 0] == 10
    assert loaded.thumbs.shape[1:] == (4, 4, 1)  # appended RGB thumbnails took the index's format


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_indexes_find_most_true_neighbours(kind):
    exact, _ = filled("flat", n=4000, d=32, clusters=20)
    approx, _ = filled(kind, n=4000, d=32, clusters=20)
    queries = unit(50, 32, seed=3, clusters=20)
    truth, found = exact.search(queries, 10)[1], approx.search(queries, 10)[1]
    recall = np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth, found, strict=True)])
    assert approx.kind == kind and recall > 0.9


def test_bad_queries_and_folders_raise_our_error(tmp_path):
    index, _ = filled(n=20)
    with pytest.raises(IndexFolderError, match="k=21 but the gallery holds 20"):
        index.search(unit(1, 16), 21)
    with pytest.raises(IndexFolderError, match="do not fit this index of 16-dimensional"):
        index.search(unit(1, 8), 3)
    with pytest.raises(IndexFolderError, match="does not exist"):
        EmbeddingIndex.load(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(IndexFolderError, match="not an index folder"):
        EmbeddingIndex.load(tmp_path / "empty")
    index.save(tmp_path / "idx")
    locate(tmp_path / "idx").path("vectors.faiss").write_bytes(b"not a faiss index")
    with pytest.raises(IndexFolderError, match="damaged"):
        EmbeddingIndex.load(tmp_path / "idx")
    index.save(tmp_path / "idx2")
    np.save(locate(tmp_path / "idx2").path("labels.npy"), np.zeros(3, np.int64))
    with pytest.raises(IndexFolderError, match="damaged"):
        EmbeddingIndex.load(tmp_path / "idx2")
    with pytest.raises(IndexFolderError, match="no gallery item 20"):
        index.thumbnail(20)


def test_recall_and_map_at_r_on_a_hand_made_ranking():
    ranked = np.array([[1, 0, 1, 1], [0, 0, 1, 1]])  # neighbour labels, best first
    query = np.array([1, 1])
    assert recall_at_k(ranked, query, (1, 2, 3)) == {1: 0.5, 2: 0.5, 3: 1.0}
    # R = 3 for both: query 0: (1/1 + 0 + 2/3) / 3; query 1: (0 + 0 + 1/3) / 3
    assert map_at_r(ranked, query, np.array([3, 3])) == pytest.approx(((1 + 2 / 3) / 3 + (1 / 3) / 3) / 2)


def test_retrieval_scores_are_perfect_for_separated_classes():
    centres = np.eye(4, dtype=np.float32)
    labels = np.repeat(np.arange(4), 10)
    gallery = centres[labels] + 0.01 * unit(40, 4)
    scores = retrieval_scores(gallery, labels, gallery, labels, exclude_self=True)
    assert scores["recall@1"] == 1.0 and scores["map@r"] == pytest.approx(1.0)


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_search_works_after_faiss_torch_utils_replaced_faiss_search(kind, tmp_path):
    """pytorch-metric-learning's FaissKNN imports faiss.contrib.torch_utils, which swaps faiss's search for
    one without `params` in the whole process; the index must still answer (and after a reload)."""
    import faiss.contrib.torch_utils  # noqa: F401 (the swap happens on import)

    index, _ = filled(kind, n=2000, d=16, clusters=10)
    index.save(tmp_path / "idx")
    queries = unit(5, 16, seed=4, clusters=10)
    for each in (index, EmbeddingIndex.load(tmp_path / "idx")):
        scores, ids = each.search(queries, 3)
        assert ids.shape == (5, 3) and (scores[:, 0] >= scores[:, 2]).all()
