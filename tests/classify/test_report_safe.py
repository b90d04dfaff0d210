"""`cnnlab report` reads everything before it replaces anything: a damaged run keeps its plots."""

from cnnlab.classify.config import ClassifyConfig
from cnnlab.classify.training import train_classifier
from cnnlab.data.datasets import DataConfig
from cnnlab.train import FitConfig
from tests.cli import run_cli


def test_report_on_a_damaged_run_replaces_nothing(tmp_path):
    cfg = ClassifyConfig(data=DataConfig("digits", image_size=16), model_args={"filters": [8, 16], "dense": 16},
                         fit=FitConfig(epochs=1), runs_dir=str(tmp_path), name="r")
    run = train_classifier(cfg).run.path
    plots = {name: (run / name).read_bytes() for name in ("history.png", "confusion.png", "report.html")}
    (run / "confusion.json").write_text('{"classes": ["0"]}')  # no matrix
    out = run_cli("report", str(run), cwd=tmp_path)
    assert out.returncode == 2 and "nothing was rewritten" in " ".join(out.stdout.split())
    assert {name: (run / name).read_bytes() for name in plots} == plots
    assert not list(run.glob(".*.new.*"))
    (run / "confusion.json").unlink()
    assert run_cli("report", str(run), cwd=tmp_path).returncode == 2
    assert {name: (run / name).read_bytes() for name in plots} == plots
