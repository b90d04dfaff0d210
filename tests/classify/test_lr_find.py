"""The learning-rate finder: a sane suggestion that trains the quickstart as well as the tuned default."""

import json

import pytest

from cnnlab.classify.config import ClassifyConfig
from cnnlab.classify.training import train_classifier
from cnnlab.data.augment_spec import parse_augment
from cnnlab.data.config import DataConfig
from cnnlab.errors import CnnlabError
from cnnlab.train import FitConfig
from cnnlab.train.lr_find import suggest
from tests.cli import cnnlab

QUICKSTART_AUGMENT = "rotation=10,zoom=0.1,shift=0.1"


def quickstart(tmp_path, lr):
    """The quickstart's run (cnnlab quickstart) with 10 epochs instead of 30, to keep the suite quick: 96.9% with the
    default 1e-3 (98.9% after 30)."""
    cfg = ClassifyConfig(data=DataConfig("digits", image_size=32), model="baseline-cnn",
                         augment=parse_augment(QUICKSTART_AUGMENT),
                         fit=FitConfig(epochs=10, batch_size=32, schedule="cosine", lr=lr), name=f"lr{lr:g}",
                         runs_dir=str(tmp_path))
    return train_classifier(cfg).summary["test_acc"]


@pytest.mark.slow
def test_the_suggested_rate_trains_the_quickstart_within_a_point_of_the_tuned_default(tmp_path, capsys):
    code, out = cnnlab(capsys, "classify", "lr-find", "--data", "digits", "--batch-size", "32", "--schedule",
                       "cosine", "--augment", QUICKSTART_AUGMENT, "--out", str(tmp_path / "find"))
    assert code == 0, out
    found = json.loads((tmp_path / "find/lr_find.json").read_text())
    assert (tmp_path / "find/lr_find.png").stat().st_size > 0 and found["paste"].startswith("--lr ")
    assert 1e-4 < found["suggestion"] < 0.1 and found["suggestion"] <= found["minimum"]  # sane for Adam
    assert found["losses"][-1] > min(found["losses"])  # the test ran until the loss turned up
    assert quickstart(tmp_path, found["suggestion"]) >= quickstart(tmp_path, 1e-3) - 0.01


def test_suggest_on_known_curves_and_bad_options(tmp_path, capsys):
    lrs = [10 ** (-7 + 8 * i / 99) for i in range(100)]
    # flat, then a fall between 1e-4 and 1e-2, then a rise: steepest near 1e-3, minimum near 1e-2
    losses = [2.0 if lr < 1e-4 else 2.0 - (min(lr, 1e-2) / 1e-2) ** 0.5 * 1.5 if lr <= 1e-2 else 0.5 + (lr - 1e-2)
              for lr in lrs]
    s = suggest(lrs, losses)
    assert 1e-4 < s <= 1.1e-3
    assert suggest(lrs, sorted(losses, reverse=True)[:30] + [9.0] * 70) < lrs[29]
    code, out = cnnlab(capsys, "classify", "lr-find", "--data", "digits", "--steps", "3", "--out", str(tmp_path / "a"))
    assert code == 2 and "--steps" in out and not (tmp_path / "a").exists()
    code, out = cnnlab(capsys, "classify", "lr-find", "--data", "digits", "--optimizer", "rmsprop",
                       "--out", str(tmp_path / "b"))
    assert code == 2 and "optimizer" in out and not (tmp_path / "b").exists()
    with pytest.raises(CnnlabError):
        from cnnlab.train.lr_find import lr_find

        lr_find(None, FitConfig(), None, start=1.0, end=0.1)
