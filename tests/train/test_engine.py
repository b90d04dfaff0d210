import json

import pytest
import torch

from cnnlab.classify.config import ClassifyConfig
from cnnlab.classify.training import train_classifier
from cnnlab.data.augment import parse_augment
from cnnlab.data.datasets import DataConfig
from cnnlab.errors import RunFolderError, TrainingDiverged
from cnnlab.train import FitConfig, RunDir
from cnnlab.train.checkpoint import load_checkpoint, save_atomic


def small_config(tmp_path, **fit) -> ClassifyConfig:
    """digits at 16x16, the baseline CNN with dropout-free layers; ~0.1 s an epoch."""
    return ClassifyConfig(data=DataConfig("digits", image_size=16), model="baseline-cnn",
                          model_args={"filters": [16, 32], "dense": 32}, augment=parse_augment("standard"),
                          fit=FitConfig(**{"epochs": 4, "batch_size": 64, "schedule": "cosine", **fit}),
                          runs_dir=str(tmp_path), name="run")


def stop_after(epoch: int):
    def callback(done: int, record: dict) -> None:
        if done == epoch:
            raise KeyboardInterrupt

    return callback


def test_resume_equals_uninterrupted_run(tmp_path):
    full = train_classifier(small_config(tmp_path / "a"))
    cut = train_classifier(small_config(tmp_path / "b"), callbacks=(stop_after(2),))
    assert cut.state.status == "interrupted" and cut.state.epoch == 2
    assert json.loads((tmp_path / "b/classify/run/metrics.jsonl").read_text().splitlines()[-1])["epoch"] == 2
    resumed = train_classifier(small_config(tmp_path / "b"), resume=True)
    assert resumed.state.status == "finished"
    a, b = (load_checkpoint(p / "classify/run/checkpoints/last.pt")["model"] for p in (tmp_path / "a", tmp_path / "b"))
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-6), key
    assert [r["val_loss"] for r in full.state.history] == pytest.approx([r["val_loss"] for r in resumed.state.history])
    assert full.summary["test_acc"] == resumed.summary["test_acc"]


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    def poison(done: int, record: dict) -> None:
        if done == 1:
            for group in optimizer_of(tmp_path).param_groups:
                group["lr"] = float("nan")

    holder = {}

    def optimizer_of(_):
        return holder["opt"]

    import cnnlab.train.loop as loop

    original = loop.build_optimizer

    def capture(*args, **kwargs):
        holder["opt"] = original(*args, **kwargs)
        return holder["opt"]

    loop.build_optimizer = capture
    try:
        with pytest.raises(TrainingDiverged, match=r"epoch 2.*epoch 1\) is kept"):
            train_classifier(small_config(tmp_path, schedule="constant"), callbacks=(poison,))
    finally:
        loop.build_optimizer = original
    ckpt = load_checkpoint(tmp_path / "classify/run/checkpoints/last.pt")
    assert ckpt["engine"]["epoch"] == 1
    assert all(torch.isfinite(v.float()).all() for v in ckpt["model"].values())


def test_early_stopping(tmp_path):
    result = train_classifier(small_config(tmp_path, epochs=30, lr=0.05, patience=2, schedule="constant"))
    assert result.state.status == "early-stopped" and result.state.epoch < 30
    assert result.state.bad_epochs == 2


def test_existing_run_folder_is_refused(tmp_path):
    train_classifier(small_config(tmp_path, epochs=1))
    with pytest.raises(RunFolderError, match="--resume.*--overwrite"):
        train_classifier(small_config(tmp_path, epochs=1))
    assert train_classifier(small_config(tmp_path, epochs=1), overwrite=True).state.status == "finished"
    with pytest.raises(RunFolderError, match="cannot resume"):
        train_classifier(small_config(tmp_path / "empty", epochs=1), resume=True)


def test_checkpoints_are_atomic_and_corruption_is_reported(tmp_path):
    path = tmp_path / "c.pt"
    save_atomic({"x": torch.ones(3)}, path)
    assert torch.equal(load_checkpoint(path)["x"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(RunFolderError, match="cannot be read"):
        load_checkpoint(path)
    with pytest.raises(RunFolderError, match="not a cnnlab run folder"):
        RunDir.open(tmp_path)


def test_time_budget_stops_training(tmp_path):
    result = train_classifier(small_config(tmp_path, epochs=50, max_seconds=0.0))
    assert result.state.status == "budget-spent" and result.state.epoch == 1
    assert result.summary["test_acc"] > 0  # a budget-stopped run is evaluated and reported like a finished one


def test_time_budget_is_checked_during_the_epoch(tmp_path):
    result = train_classifier(small_config(tmp_path, epochs=3, batch_size=8, max_seconds=0.0))
    log = (tmp_path / "classify/run/log.txt").read_text()
    assert result.state.status == "budget-spent" and result.state.epoch == 1
    steps = int(log.split("stopped after 1 of ")[1].split()[0])  # one step, then the budget is seen spent
    assert steps > 100 and result.summary["test_acc"] > 0  # the cut epoch is validated and the run reported
