"""--resume: options that would change the run are refused by name; --epochs N extends a finished run."""

import json

from tests.cli import run_cli

BASE = ("classify", "train", "--image-size", "16", "--model-arg", "filters=16,32", "--model-arg", "dense=32",
        "--batch-size", "64", "--name", "r", "--runs-dir", "runs")


def test_resume_refuses_changed_options_and_extends_epochs(tmp_path):
    first = run_cli(*BASE, "--epochs", "1", cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    folder = tmp_path / "runs" / "classify" / "r"
    changed = run_cli("classify", "train", "--name", "r", "--runs-dir", "runs", "--resume", "--lr", "0.1",
                      "--image-size", "24", cwd=tmp_path)
    assert changed.returncode == 2 and "Traceback" not in changed.stdout + changed.stderr
    assert "--lr" in changed.stdout and "--image-size" in changed.stdout and "0.001" in changed.stdout
    assert len(json.loads((folder / "summary.json").read_text())) and \
        json.loads((folder / "config.json").read_text())["fit"]["epochs"] == 1
    shorter = run_cli("classify", "train", "--name", "r", "--runs-dir", "runs", "--resume", "--epochs", "0",
                      cwd=tmp_path)
    assert shorter.returncode == 2 and "--epochs" in shorter.stdout
    longer = run_cli("classify", "train", "--name", "r", "--runs-dir", "runs", "--resume", "--epochs", "3",
                     "--lr", "0.001", cwd=tmp_path)  # an option equal to the run's own value is fine
    assert longer.returncode == 0, longer.stdout + longer.stderr
    metrics = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == [1, 2, 3]
    assert json.loads((folder / "config.json").read_text())["fit"]["epochs"] == 3
    assert json.loads((folder / "summary.json").read_text())["epochs"] == 3


def test_defaults_work_with_no_options_at_all(tmp_path):
    result = run_cli("classify", "train", "--epochs", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "runs" / "classify" / "baseline-cnn-digits" / "report.html").is_file()
