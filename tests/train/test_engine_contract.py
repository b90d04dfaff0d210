"""One run contract for every task: the checkpoint format, results.csv, and the engine's CUDA manners."""

import csv
import io
import json

import pytest
import torch

from cnnlab import __version__
from cnnlab.errors import RunFolderError
from cnnlab.train.checkpoint import FORMAT, load_checkpoint, save_atomic
from cnnlab.train.progress import EpochBar
from tests.generate.test_gan import gan_config
from tests.train.test_engine import small_config


def check_format(run, task: str) -> dict:
    ckpt = load_checkpoint(run / "checkpoints" / "last.pt")
    assert (ckpt["format"], ckpt["cnnlab"], ckpt["task"]) == (FORMAT, __version__, task)
    assert ckpt["date"][:4].isdigit() and ckpt["config"] == json.loads((run / "config.json").read_text())
    assert ckpt["engine"]["epoch"] == ckpt["epoch"] == len(ckpt["engine"]["history"])
    assert isinstance(ckpt["model"], dict) and ckpt["optimizers"]
    rows = list(csv.DictReader((run / "results.csv").open()))
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == len(history) == ckpt["epoch"]
    assert [float(r["epoch"]) for r in rows] == [h["epoch"] for h in history]
    assert float(rows[-1]["seconds"]) == pytest.approx(history[-1]["seconds"])
    return ckpt


def test_classifier_and_gan_checkpoints_share_one_format(tmp_path):
    from cnnlab.classify.training import train_classifier
    from cnnlab.generate.training import train_gan

    train_classifier(small_config(tmp_path, epochs=2))
    ckpt = check_format(tmp_path / "classify" / "run", "classify")
    assert set(ckpt["optimizers"]) == {"main"} and set(ckpt["schedulers"]) == {"main"}
    best = load_checkpoint(tmp_path / "classify/run/checkpoints/best.pt")
    assert best["task"] == "classify" and best["format"] == FORMAT and "spec" in best

    train_gan(gan_config(tmp_path, epochs=1))
    ckpt = check_format(tmp_path / "generate" / "gan", "generate")
    assert set(ckpt["optimizers"]) == {"g", "d"} and set(ckpt["nets"]) == {"D"}
    columns = next(csv.reader((tmp_path / "generate/gan/results.csv").open()))
    assert {"d_loss", "g_loss", "diversity"} <= set(columns)


def test_checkpoints_of_earlier_cnnlab_are_read_in_the_new_format(tmp_path):
    weights = {"w": torch.ones(2)}
    save_atomic({"model": weights, "optimizer": {"o": 1}, "scheduler": {"s": 2}, "ema": weights,
                 "state": {"epoch": 3, "history": [{}] * 3}, "phase": 0, "classes": ["a"]}, tmp_path / "fit.pt")
    fit = load_checkpoint(tmp_path / "fit.pt")
    assert fit["format"] == FORMAT and fit["epoch"] == 3 and fit["engine"]["epoch"] == 3
    assert fit["optimizers"] == {"main": {"o": 1}} and fit["schedulers"] == {"main": {"s": 2}}
    assert torch.equal(fit["nets"]["ema"]["w"], weights["w"]) and fit["classes"] == ["a"]
    save_atomic({"trainer": {"G": weights, "D": weights, "opt_g": {"g": 1}, "opt_d": {"d": 1},
                             "fixed_z": torch.zeros(2)}, "epoch": 2, "history": [{}, {}], "config": {}},
                tmp_path / "gan.pt")
    gan = load_checkpoint(tmp_path / "gan.pt")
    assert gan["task"] == "generate" and gan["engine"] == {"epoch": 2, "history": [{}, {}]}
    assert gan["optimizers"] == {"g": {"g": 1}, "d": {"d": 1}} and set(gan["nets"]) == {"D"}


def test_a_checkpoint_of_a_newer_format_is_refused_by_name(tmp_path):
    save_atomic({"format": FORMAT + 1, "model": {}}, tmp_path / "new.pt")
    with pytest.raises(RunFolderError, match="newer than this cnnlab reads"):
        load_checkpoint(tmp_path / "new.pt")
    save_atomic([1, 2], tmp_path / "list.pt")
    with pytest.raises(RunFolderError, match="not a cnnlab checkpoint"):
        load_checkpoint(tmp_path / "list.pt")


class Untouchable(torch.Tensor):
    """A metric that must not be read on the host: reading it would make the host wait for a CUDA queue."""

    def item(self):
        raise AssertionError("the bar read a value from the device during the epoch")


def test_the_epoch_bar_never_reads_device_values_on_cuda():
    from rich.console import Console
    from rich.progress import Progress

    totals = {"loss": torch.tensor(3.0).as_subclass(Untouchable)}
    with Progress(console=Console(file=io.StringIO(), force_terminal=True)) as bars:  # shown, as on a terminal
        cuda = EpochBar(bars, "epoch 1/1", 4, torch.device("cuda"))
        for step in range(4):
            cuda.update(step, totals, step + 1)
        cuda.close()
        with pytest.raises(AssertionError, match="read a value"):
            EpochBar(bars, "epoch 1/1", 4, torch.device("cpu")).update(0, totals, 1)


def test_tensorboard_gets_every_epoch_and_the_gan_samples(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from cnnlab.classify.training import train_classifier
    from cnnlab.generate.training import train_gan

    train_classifier(small_config(tmp_path, epochs=2, tensorboard=True))
    events = EventAccumulator(str(tmp_path / "classify/run/tensorboard")).Reload()
    assert [e.step for e in events.Scalars("val/loss")] == [1, 2]
    assert {"train/loss", "train/acc", "val/acc", "lr", "seconds"} <= set(events.Tags()["scalars"])

    train_gan(gan_config(tmp_path, epochs=1, tensorboard=True))
    events = EventAccumulator(str(tmp_path / "generate/gan/tensorboard")).Reload()
    assert "samples" in events.Tags()["images"] and "d_loss" in events.Tags()["scalars"]


def test_tensorboard_asked_for_without_the_package_is_a_clear_error(monkeypatch):
    import cnnlab.train.board as board
    from cnnlab.errors import ConfigError
    from cnnlab.train import FitConfig

    monkeypatch.setattr(board, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="pip install tensorboard"):
        FitConfig(tensorboard=True)
    FitConfig(tensorboard=False)


def test_config_json_names_its_task_and_version_and_another_task_reads_it_as_such(tmp_path):
    from cnnlab.classify.config import ClassifyConfig
    from cnnlab.classify.training import train_classifier
    from cnnlab.generate.config import GanConfig
    from cnnlab.similarity.config import SimilarityConfig

    train_classifier(small_config(tmp_path, epochs=1))
    config = json.loads((tmp_path / "classify/run/config.json").read_text())
    assert (config["task"], config["cnnlab"]) == ("classify", __version__)
    assert ClassifyConfig.from_dict(config) == small_config(tmp_path, epochs=1)
    for other in (GanConfig, SimilarityConfig):
        with pytest.raises(RunFolderError, match="this is a classify run, not a"):
            other.from_dict(config)


def test_a_long_epoch_says_how_far_it_is_when_no_bar_is_shown():
    from rich.console import Console
    from rich.progress import Progress

    lines = []
    hidden = Progress(console=Console(file=io.StringIO()), disable=True)  # not a terminal: a log, CI, a pipe
    bar = EpochBar(hidden, "epoch 2/5", 10, torch.device("cpu"), say=lines.append, every_s=0.0)
    for step in range(10):
        bar.update(step, {"loss": torch.tensor(1.0)}, step + 1)
    assert lines[0].startswith("epoch 2/5: 1/10 steps,") and "s left" in lines[0]
    assert len(lines) == 9  # every step but the last (the epoch's own line follows), as often as every_s allows
    quiet = []
    bar = EpochBar(hidden, "epoch 2/5", 10, torch.device("cpu"), say=quiet.append, every_s=3600)
    for step in range(10):
        bar.update(step, {}, step + 1)
    assert quiet == []  # a short epoch stays quiet


def test_counted_work_prints_plain_lines_when_no_bar_is_shown():
    from rich.console import Console
    from rich.progress import Progress

    from cnnlab.train.progress import counter

    lines = []
    tick = counter(Progress(console=Console(file=io.StringIO()), disable=True), "embedding images", lines.append,
                   every_s=0.0)
    for done in (256, 512, 600):
        tick(done, 600)
    assert lines == ["embedding images: 256/600, 0 s", "embedding images: 512/600, 0 s"]  # not the last: done
