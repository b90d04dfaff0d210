"""`cnnlab report` on a similarity run: rebuilt by the similarity report, and never half-overwritten."""

import json
import shutil

import pytest

from cnnlab.data.datasets import DataConfig
from cnnlab.errors import RunFolderError
from cnnlab.similarity.config import SimilarityConfig
from cnnlab.similarity.report import is_similarity_run, rebuild_report
from cnnlab.similarity.training import train_similarity
from cnnlab.train import FitConfig, RunDir
from cnnlab.train.run import MARKER


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    data = DataConfig("digits", image_size=32, train_per_class=20)  # small: the run's figures come fast
    cfg = SimilarityConfig(data=data, model="baseline-cnn", method="metric", fit=FitConfig(epochs=1),
                           runs_dir=str(tmp_path_factory.mktemp("runs")), name="r")
    return train_similarity(cfg).run.path


@pytest.fixture
def run(finished_run, tmp_path):
    return RunDir(shutil.copytree(finished_run, tmp_path / "run"))


def snapshot(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_a_similarity_run_report_is_rebuilt(run):
    (run.path / "report.html").unlink()
    (run.path / "history.png").unlink()
    assert rebuild_report(run) is True
    page = (run.path / "report.html").read_text()
    assert "Recall@1" in page and "metric similarity on baseline-cnn" in page and (run.path / "history.png").is_file()


def test_a_run_from_before_markers_is_recognised_by_its_config(run):
    (run.path / MARKER).unlink()
    assert is_similarity_run(run) and rebuild_report(run)


def test_other_runs_are_left_untouched(tmp_path):
    other = tmp_path / "classify-run"
    other.mkdir()
    (other / MARKER).write_text(json.dumps({"task": "classify"}))
    (other / "config.json").write_text(json.dumps({"model": "baseline-cnn", "data": {"name": "digits"}}))
    before = snapshot(other)
    assert rebuild_report(RunDir(other)) is False
    assert snapshot(other) == before


@pytest.mark.parametrize("damage", ["no summary", "summary without retrieval", "bad metrics line"])
def test_a_run_lacking_what_the_report_needs_keeps_its_plots(run, damage):
    if damage == "no summary":
        (run.path / "summary.json").unlink()
    elif damage == "summary without retrieval":
        summary = json.loads((run.path / "summary.json").read_text())
        del summary["retrieval"]
        (run.path / "summary.json").write_text(json.dumps(summary))
    else:
        with open(run.path / "metrics.jsonl", "a") as f:
            f.write("{not json\n")
    before = snapshot(run.path)
    with pytest.raises(RunFolderError):
        rebuild_report(run)
    assert snapshot(run.path) == before  # history.png and report.html as they were, no temporary files


def test_the_report_shows_the_held_out_classes_and_their_verdict(run):
    summary = json.loads((run.path / "summary.json").read_text())
    rows = [{**r, "map@r": m, "recall@1": m} for r, m in zip(summary["retrieval"], (0.2, 0.6, 0.3), strict=True)]
    rows[1]["embedding"] = "pretrained efficientnet_lite0 features (no training)"
    from cnnlab.similarity.training import verdict

    summary["holdout"] = {"classes": ["8", "9"], "queries": 10, "gallery": 40, "retrieval": rows,
                          "verdict": f"on the held-out classes: {verdict(rows)}"}
    (run.path / "summary.json").write_text(json.dumps(summary))
    rebuild_report(run)
    page = (run.path / "report.html").read_text()
    assert "Held-out classes, never trained on (8, 9)" in page
    assert "on the held-out classes: fine-tuning made search worse than the pretrained features" in page
