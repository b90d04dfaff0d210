"""One meaning of the epoch options in every room that trains in phases: --epochs is the run's epochs in all,
--freeze-epochs of them with the backbone frozen, --finetune-epochs training everything."""

import json

import pytest

from cnnlab.errors import ConfigError
from cnnlab.segment.training import SegmentConfig
from cnnlab.train.config import split_epochs
from tests.cli import cnnlab
from tests.localize.formats import canvas, write_csv


@pytest.mark.parametrize(("given", "default_freeze", "expected"), [
    ((None, None, None), 3, (3, 5)),  # the room's default: 8 epochs, 3 frozen
    ((1, None, None), 3, (1, 0)),  # fewer epochs than the frozen default: all frozen
    ((20, None, None), 3, (3, 17)),
    ((20, None, None), None, (20, 0)),  # segment: all frozen unless fine-tuning is asked for
    ((10, 4, None), 3, (4, 6)), ((10, None, 4), 3, (6, 4)), ((None, 2, 7), 3, (2, 7)), ((9, 2, 7), 3, (2, 7)),
    ((None, 0, None), 3, (0, 5)), ((None, None, 2), None, (8, 2)),
])
def test_any_two_give_the_third(given, default_freeze, expected):
    assert split_epochs(*given, default_epochs=8, default_freeze=default_freeze) == expected


@pytest.mark.parametrize(("given", "message"), [
    ((5, 2, 2), "do not add up to --epochs 5"), ((2, 3, None), "--freeze-epochs 3 is more than --epochs 2"),
    ((2, None, 3), "--finetune-epochs 3 is more than --epochs 2"), ((-1, None, None), "--epochs must be >= 0"),
])
def test_phases_that_cannot_hold_are_our_error(given, message):
    with pytest.raises(ConfigError, match=message):
        split_epochs(*given, default_epochs=8, default_freeze=3)


def test_localize_takes_epochs_like_every_other_train(capsys, tmp_path):
    path = write_csv(canvas(24, size=32), tmp_path / "data")
    code, out = cnnlab(capsys, "localize", "train", "--data", f"csv:{path}", "--model", "baseline-cnn",
                       "--no-pretrained", "--image-size", "32", "--epochs", "1", "--runs-dir", tmp_path, "--name", "e")
    assert code == 0, out
    summary = json.loads((tmp_path / "localize/e/summary.json").read_text())
    config = json.loads((tmp_path / "localize/e/config.json").read_text())
    assert summary["epochs"] == 1 and (config["freeze_epochs"], config["finetune_epochs"]) == (1, 0)


def test_segment_names_its_frozen_phase_as_the_other_rooms_do(capsys, tmp_path):
    code, out = cnnlab(capsys, "segment", "train", "--help")
    assert code == 0 and "--freeze-epochs" in out and "--freeze-lr" in out and "--finetune-epochs" in out
    old = {k: v for k, v in SegmentConfig(image_size=32).to_dict().items() if k not in ("freeze_epochs", "freeze_lr")}
    cfg = SegmentConfig.from_dict({**old, "epochs": 4, "lr": 0.01})  # a run made before the names were shared
    assert (cfg.freeze_epochs, cfg.freeze_lr) == (4, 0.01)


def test_classify_reads_epochs_as_the_sum_of_its_phases(capsys, tmp_path):
    code, out = cnnlab(capsys, "classify", "train", "--data", "digits", "--image-size", "32", "--train-per-class", "10",
                       "--epochs", "3", "--freeze-epochs", "1", "--runs-dir", tmp_path, "--name", "p")
    assert code == 0, out
    phases = json.loads((tmp_path / "classify/p/config.json").read_text())["fit"]["phases"]
    assert [(p["name"], p["epochs"]) for p in phases] == [("frozen", 1), ("finetune", 2)]
