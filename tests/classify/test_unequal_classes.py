"""Unequal classes: --class-weights auto and --sampler balanced on a folder made 10:1 unbalanced from real digits,
and the per-class precision, recall, F1 and balanced accuracy that show what plain accuracy hides."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

import cnnlab
from cnnlab.classify.config import ClassifyConfig
from cnnlab.classify.evaluate import per_class_metrics
from cnnlab.data.loader import balanced_order
from cnnlab.errors import ConfigError
from cnnlab.train.balance import class_weights

TRAIN = {"3": 150, "5": 15, "8": 15}  # 10:1
TEST = 30  # a class, balanced, from the end of each digit's images


@pytest.fixture(scope="module")
def unbalanced(tmp_path_factory, digits_module):
    images, labels = digits_module
    root = tmp_path_factory.mktemp("unbalanced") / "data"
    for name, n in TRAIN.items():
        rows = np.flatnonzero(labels == int(name))
        for k, i in enumerate(rows):
            split = "train" if k < n else "test" if k >= len(rows) - TEST else None
            if split:
                (root / split / name).mkdir(parents=True, exist_ok=True)
                Image.fromarray(images[i]).resize((16, 16), Image.BICUBIC).save(root / split / name / f"{k}.png")
    return root


@pytest.fixture(scope="module")
def digits_module():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return np.round(bunch.images * 255 / 16).astype(np.uint8), bunch.target


def summary_of(root, tmp_path, **kw):
    run = cnnlab.classify.train(data=f"folder:{root}", image_size=32, epochs=3, batch_size=32, runs_dir=tmp_path,
                                name="-".join(kw) or "plain", **kw)
    return json.loads((run.path / "summary.json").read_text())


def test_weighted_and_balanced_runs_beat_the_plain_one_on_balanced_accuracy(unbalanced, tmp_path):
    plain = summary_of(unbalanced, tmp_path)
    weighted = summary_of(unbalanced, tmp_path, class_weights="auto")
    sampled = summary_of(unbalanced, tmp_path, sampler="balanced")
    recalls = {row["class"]: row["recall"] for row in plain["test_per_class"]}
    assert recalls["3"] > 0.9 and min(recalls["5"], recalls["8"]) < 0.5  # the plain run leans to the majority
    assert weighted["test_balanced_acc"] > plain["test_balanced_acc"] + 0.2, (plain, weighted)
    assert sampled["test_balanced_acc"] > plain["test_balanced_acc"] + 0.2, (plain, sampled)
    assert {"class", "precision", "recall", "f1", "support"} <= set(weighted["test_per_class"][0])
    report = (tmp_path / "classify/class_weights/report.html").read_text()
    assert "Per-class precision, recall and F1" in report and "balanced accuracy" in report


def test_class_weights_and_the_balanced_order():
    labels = torch.tensor([0] * 90 + [1] * 10)
    w = class_weights(labels, 3)
    assert torch.allclose(w, torch.tensor([100 / 270, 100 / 30, 0.0]))  # N / (K n_c); an absent class 0
    order = balanced_order(labels, 20_000, torch.Generator().manual_seed(0))
    share = (labels[order] == 1).float().mean().item()
    assert abs(share - 0.5) < 0.02 and len(order) == 20_000


def test_per_class_metrics_of_a_known_confusion():
    matrix = np.array([[8, 2, 0], [1, 1, 0], [0, 0, 0]])  # rows true, columns predicted; class c absent
    rows, means = per_class_metrics(matrix, ["a", "b", "c"])
    assert rows[0] == {"class": "a", "precision": round(8 / 9, 4), "recall": 0.8, "f1": round(2 * (8 / 9 * 0.8)
                       / (8 / 9 + 0.8), 4), "support": 10}
    assert rows[1]["recall"] == 0.5 and rows[2]["support"] == 0
    assert means["balanced_acc"] == pytest.approx((0.8 + 0.5) / 2)  # over the classes present


def test_bad_choices_are_refused():
    with pytest.raises(ConfigError, match="class.weights"):
        ClassifyConfig(class_weights="inverse")
    with pytest.raises(ConfigError, match="sampler"):
        ClassifyConfig(sampler="weighted")
