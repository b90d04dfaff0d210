"""`cnnlab runs list` and `runs show` on a run of every task, and on damaged ones."""

import json

import pytest

from cnnlab.classify.config import ClassifyConfig
from cnnlab.classify.training import train_classifier
from cnnlab.data.augment_spec import AugmentConfig
from cnnlab.data.config import DataConfig
from cnnlab.generate.config import GanConfig
from cnnlab.generate.training import train_gan
from cnnlab.segment.training import SegmentConfig, train_unet
from cnnlab.similarity.config import SimilarityConfig
from cnnlab.similarity.training import train_similarity
from cnnlab.train.config import FitConfig
from tests.cli import run_cli


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    small = DataConfig("digits", image_size=16, train_per_class=20)
    train_classifier(ClassifyConfig(data=small, model_args={"filters": [8, 16], "dense": 16}, fit=FitConfig(epochs=1),
                                    runs_dir=str(root), name="c"))
    train_similarity(SimilarityConfig(data=DataConfig("digits", image_size=32, train_per_class=20),
                                      model="baseline-cnn", method="metric", fit=FitConfig(epochs=1),
                                      runs_dir=str(root), name="s"))
    train_unet(SegmentConfig(data="digits", image_size=32, freeze_epochs=1, batch_size=8, pretrained=False,
                             device="cpu",
                             runs_dir=str(root), name="u"))
    train_gan(GanConfig(data="digits:3", image_size=32, channels=1, width=0.25, latent_dim=16, epochs=1,
                        batch_size=32, features="pixels", health_samples=16, augment=AugmentConfig(), device="cpu",
                        runs_dir=str(root), name="g"))
    return root


def test_runs_list_shows_a_run_of_every_task(runs, tmp_path):
    out = run_cli("runs", "list", "--runs-dir", str(runs), "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    rows = {r["task"]: r for r in json.loads(out.stdout)}
    assert set(rows) == {"classify", "similarity", "segment", "generate"}
    assert rows["classify"]["metric"].startswith("test acc") and rows["classify"]["model"] == "baseline-cnn"
    assert rows["similarity"]["metric"].startswith("mAP@R") and rows["segment"]["metric"].startswith("val mIoU")
    assert rows["generate"]["metric"].startswith("FID-style") and rows["generate"]["model"] == "transposed"
    assert all(r["epochs"] == 1 and r["status"] == "finished" for r in rows.values())
    table = run_cli("runs", "list", "--runs-dir", str(runs), "--task", "segment", cwd=tmp_path)
    assert "1 run in" in " ".join(table.stdout.split()) and "segment" in table.stdout
    shown = run_cli("runs", "show", str(runs / "generate" / "g"), cwd=tmp_path)
    assert shown.returncode == 0 and "generate run g" in shown.stdout and "summary.json:" in shown.stdout


def test_a_damaged_run_is_listed_not_fatal(runs, tmp_path):
    broken = runs / "classify" / "broken"
    (broken / "checkpoints").mkdir(parents=True)
    (broken / "config.json").write_text("{not json")
    (broken / "metrics.jsonl").write_text('{"epoch": 1, "seconds": 2.0}\n{cut')
    out = run_cli("runs", "list", "--runs-dir", str(runs), "--json", cwd=tmp_path)
    row = next(r for r in json.loads(out.stdout) if r["name"] == "broken")
    assert row["status"] == "empty" and row["epochs"] == 1 and row["seconds"] == 2.0
    bad = run_cli("runs", "list", "--runs-dir", str(tmp_path / "none"), cwd=tmp_path)
    assert bad.returncode == 2 and "is not a folder" in bad.stdout


@pytest.mark.parametrize("task_name", ["classify/c", "similarity/s", "segment/u", "generate/g"])
def test_report_rebuilds_a_run_of_every_task(runs, tmp_path, task_name):
    folder = runs / task_name
    (folder / "report.html").unlink()
    (folder / "history.png").unlink()
    out = run_cli("report", str(folder), cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "data:image/png;base64," in (folder / "report.html").read_text()
    assert (folder / "history.png").stat().st_size > 1000
