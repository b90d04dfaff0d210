import json

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab.data.datasets import DataConfig
from cnnlab.errors import ImageTooLargeError, IndexFolderError, NotAnImageError
from cnnlab.index.gallery import decode_image
from cnnlab.index.search import Searcher, build_index
from cnnlab.similarity.analysis import pair_scores
from cnnlab.similarity.config import SimilarityConfig
from cnnlab.similarity.embed import load_run_network
from cnnlab.similarity.pairs import make_pairs
from cnnlab.similarity.training import train_similarity
from cnnlab.train import FitConfig
from cnnlab.train.checkpoint import load_checkpoint
from tests.cli import run_cli

DIGITS = DataConfig("digits", image_size=32)


def config(tmp_path, method, epochs, name=None, **fit):
    return SimilarityConfig(data=DIGITS, model="baseline-cnn", method=method, pairs=2000,
                            fit=FitConfig(epochs=epochs, **fit), runs_dir=str(tmp_path), name=name)


@pytest.fixture(scope="module")
def metric_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return train_similarity(config(root, "metric", 4))


def test_siamese_training_moves_same_class_scores_above_different(tmp_path):
    from cnnlab.data.datasets import load_dataset
    from cnnlab.similarity.training import build_network

    test = load_dataset(DIGITS).test
    a, b, target = make_pairs(test.labels, 600, torch.Generator().manual_seed(5))
    same = target.numpy() == 1

    def gap(net):
        s = pair_scores(net, test.images[a], test.images[b], torch.device("cpu"))
        return s[same].mean() - s[~same].mean()

    cfg = config(tmp_path, "siamese", 6)
    untrained = gap(build_network(cfg, load_dataset(DIGITS), seed=0))
    result = train_similarity(cfg)
    trained = gap(load_run_network(result.run.path)[0])
    assert abs(untrained) < 0.05  # the seed's observation: untrained, every pair scores about the same
    assert trained > 0.15, (untrained, trained)
    for figure in ("pairs.png", "two-classes.png", "tsne.png", "retrieval.png", "history.png", "report.html"):
        assert (result.run.path / figure).is_file(), figure


def test_metric_learning_beats_raw_pixels_and_the_untrained_net(metric_run):
    rows = {r["embedding"]: r for r in metric_run.summary["retrieval"]}
    pixels, untrained, trained = rows["raw pixels"], rows["untrained baseline-cnn"], rows["metric baseline-cnn"]
    assert trained["map@r"] > pixels["map@r"] + 0.2 and trained["map@r"] > untrained["map@r"] + 0.2
    assert trained["recall@1"] > 0.9


def test_resume_equals_uninterrupted(tmp_path):
    def stop_after_one(epoch, record):
        if epoch == 1:
            raise KeyboardInterrupt

    full = train_similarity(config(tmp_path / "a", "siamese", 2))
    assert train_similarity(config(tmp_path / "b", "siamese", 2), callbacks=(stop_after_one,)).state.status == \
        "interrupted"
    resumed = train_similarity(config(tmp_path / "b", "siamese", 2), resume=True)
    assert [r["val_loss"] for r in resumed.state.history] == pytest.approx([r["val_loss"] for r in full.state.history])
    assert resumed.summary["map@r"] == pytest.approx(full.summary["map@r"])


def test_index_and_query_a_run(metric_run, tmp_path, digits):
    run = metric_run.run.path
    report = build_index(str(run), "digits", tmp_path / "idx", split="test", device="cpu")
    assert report.added == len(report.index) == 360
    searcher = Searcher(tmp_path / "idx", device="cpu")
    images, labels = digits
    picks = [int(np.flatnonzero(labels == c)[0]) for c in (3, 7)]
    for i in picks:
        Image.fromarray(images[i]).resize((64, 64)).save(tmp_path / f"q{i}.png")
    rows = searcher.search([searcher.read(tmp_path / f"q{i}.png") for i in picks], 5)
    assert [row[0].label for row in rows] == ["3", "7"]
    assert all(row[0].score >= row[-1].score for row in rows)
    # append the training split: same model, one index
    build_index(str(run), "digits", tmp_path / "idx", split="train", append=True, device="cpu")
    assert len(Searcher(tmp_path / "idx", device="cpu").index) == 360 + 1293


def test_an_index_refuses_another_model(metric_run, tmp_path):
    build_index("pixels", "digits", tmp_path / "pix", split="test")
    with pytest.raises(IndexFolderError, match="built with raw pixels of 1x8x8 images, not with the metric model"):
        Searcher(tmp_path / "pix", model=str(metric_run.run.path), device="cpu")
    with pytest.raises(IndexFolderError, match="already holds an index"):
        build_index("pixels", "digits", tmp_path / "pix", split="test")
    with pytest.raises(IndexFolderError, match="built with raw pixels"):
        build_index(str(metric_run.run.path), "digits", tmp_path / "pix", split="test", append=True, device="cpu")


def test_an_index_notices_its_model_changed(tmp_path):
    run = train_similarity(config(tmp_path, "metric", 1)).run.path
    build_index(str(run), "digits", tmp_path / "idx", split="test", device="cpu")
    ckpt = torch.load(run / "checkpoints" / "best.pt", weights_only=False)
    ckpt["model"] = {k: v + 0.01 if v.is_floating_point() else v for k, v in ckpt["model"].items()}
    torch.save(ckpt, run / "checkpoints" / "best.pt")
    with pytest.raises(IndexFolderError, match="has changed since the index was built"):
        Searcher(tmp_path / "idx", device="cpu")


def test_decode_image_refuses_non_images_and_bombs(tmp_path):
    with pytest.raises(NotAnImageError):
        decode_image(b"GIF89a but not really", 16)
    with pytest.raises(NotAnImageError):
        decode_image(b"", 16)
    Image.new("1", (9000, 9000)).save(tmp_path / "bomb.png")  # 81 Mpx that compress to a few kB
    assert (tmp_path / "bomb.png").stat().st_size < 100_000
    with pytest.raises(ImageTooLargeError, match="decompression bomb"):
        decode_image((tmp_path / "bomb.png").read_bytes(), 16)
    Image.new("RGB", (40, 20), (255, 0, 0)).save(tmp_path / "red.png")
    x = decode_image(tmp_path / "red.png", 16)
    assert x.shape == (3, 16, 16) and x.dtype == torch.uint8 and int(x[0].min()) == 255


def test_cli_train_index_query_evaluate(tmp_path, digits):
    train = ["similarity", "train", "--data", "digits", "--image-size", "32", "--model", "baseline-cnn", "--method",
             "metric", "--epochs", "1", "--name", "m", "--runs-dir", str(tmp_path)]
    done = run_cli(*train, cwd=tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout
    run = tmp_path / "similarity" / "m"
    done = run_cli("similarity", "index", str(run), "--data", "digits", "--out", "idx", cwd=tmp_path)
    assert done.returncode == 0 and "indexed 1797 images" in done.stdout, done.stderr + done.stdout
    Image.fromarray(digits[0][0]).save(tmp_path / "zero.png")
    done = run_cli("similarity", "query", "idx", "zero.png", "-k", "3", "--json", "--out", "m.png", cwd=tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout
    result = json.loads(done.stdout)  # stdout is JSON alone; the note on the montage goes to stderr
    assert len(result[0]["neighbours"]) == 3 and (tmp_path / "m.png").is_file() and "wrote m.png" in done.stderr
    done = run_cli("similarity", "query", "idx", "zero.png", "-k", "5000", cwd=tmp_path)
    assert done.returncode == 2 and "k=5000 but the gallery holds 1797" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    done = run_cli("similarity", "evaluate", str(run), "--out", "ev", cwd=tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout
    rows = json.loads((tmp_path / "ev" / "evaluation.json").read_text())["rows"]
    assert [r["embedding"].split()[0] for r in rows] == ["raw", "untrained", "metric"]
    done = run_cli("similarity", "tsne", "idx", "--points", "300", "--thumbnails", "--out", "t.png", cwd=tmp_path)
    assert done.returncode == 0 and (tmp_path / "t.png").is_file(), done.stderr + done.stdout


def test_the_checkpoint_kept_is_the_best_by_validation_retrieval_and_the_report_says_so(metric_run):
    history, summary = metric_run.state.history, metric_run.summary
    scores = [r["val_map@r"] for r in history]
    assert all(0 < s <= 1 for s in scores) and all(0 <= r["val_recall@1"] <= 1 for r in history)
    assert summary["best_epoch"] == scores.index(max(scores)) + 1 and summary["selected_by"] == "validation map@r"
    best = load_checkpoint(metric_run.run.path / "checkpoints" / "best.pt")
    assert best["epoch"] == summary["best_epoch"]
    assert f"epoch {summary['best_epoch']} of 4, the best by validation map@r" in \
        (metric_run.run.path / "report.html").read_text()


def test_select_by_loss_keeps_the_lowest_validation_loss(tmp_path):
    result = train_similarity(SimilarityConfig(**{**config(tmp_path, "metric", 3).__dict__, "select_by": "loss"}))
    losses = [r["val_loss"] for r in result.state.history]
    assert result.summary["best_epoch"] == losses.index(min(losses)) + 1 and "val_map@r" not in result.state.history[0]
