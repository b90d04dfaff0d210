"""`cnnlab TASK lr-find` in every fit-based room: the train command's options, the range test on the task training
would fit, the option to paste, no run folder; and the rule for a loss that never falls."""

import json

import pytest

from cnnlab.train.lr_find import did_not_fall, suggest
from tests.cli import cnnlab

ROOMS = {
    "segment": (["--data", "digits", "--image-size", "32", "--encoder", "resnet18", "--no-pretrained",
                 "--batch-size", "16"], "--freeze-lr "),
    "localize": (["--data", "digits", "--image-size", "32", "--model", "timm:resnet18", "--no-pretrained",
                  "--finetune-epochs", "3", "--freeze-epochs", "0"], "--finetune-lr "),
    "similarity": (["--data", "digits", "--method", "metric", "--model", "baseline-cnn", "--epochs", "1"], "--lr "),
}


@pytest.mark.parametrize("room", sorted(ROOMS))
def test_every_room_finds_a_rate_with_its_train_options(room, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    options, flag = ROOMS[room]
    code, out = cnnlab(capsys, room, "lr-find", *options, "--steps", "25")
    assert code == 0, out
    (folder,) = (tmp_path / "runs" / "lr-find").iterdir()  # beside the run folders: runs/lr-find/ROOM-NAME
    assert folder.name.startswith(f"{room}-") and not (tmp_path / "runs" / room).exists()
    found = json.loads((folder / "lr_find.json").read_text())
    assert found["paste"].startswith(flag) and f"paste: {found['paste']}" in out
    assert 1e-7 < found["suggestion"] < 10 and len(found["lrs"]) == len(found["losses"]) >= 10
    assert (folder / "lr_find.png").stat().st_size > 1000


def test_a_train_option_the_room_does_not_have_is_refused_before_any_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out = cnnlab(capsys, "segment", "lr-find", "--data", "digits", "--method", "metric")
    assert code == 2 and "--method" in out and not (tmp_path / "runs").exists()
    code, out = cnnlab(capsys, "localize", "lr-find", "--data", "voc:nowhere", "--steps", "20")
    assert code != 0 and "nowhere" in out and not (tmp_path / "runs").exists()
    (tmp_path / "file").write_text("x")
    code, out = cnnlab(capsys, "similarity", "lr-find", "--data", "digits", "--out", "file")
    assert code != 0 and "is a file" in out


def test_a_loss_that_never_falls_is_read_where_it_starts_to_climb():
    lrs = [10 ** (-7 + 8 * i / 99) for i in range(100)]
    flat = [2.0 + 0.001 * (i % 3) if lr < 1e-3 else 2.0 + (lr - 1e-3) * 50 for i, lr in enumerate(lrs)]
    assert did_not_fall(flat, flat)
    s = suggest(lrs, flat)
    assert 1e-5 < s < 1e-3  # a tenth of the rate where it rose 2% above its start (just above 1e-3)
    falling = [2.0 - 1.5 * min(lr, 1e-2) / 1e-2 for lr in lrs]
    assert not did_not_fall(falling, falling)
