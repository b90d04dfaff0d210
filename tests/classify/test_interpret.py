"""The classification report shows the most confused classes and the test images with the highest loss, each
with the Grad-CAM of its prediction; a rebuilt report says why when the test images are gone."""

import shutil

import numpy as np

from cnnlab.classify.config import ClassifyConfig
from cnnlab.classify.interpret import confused_pairs
from cnnlab.classify.training import train_classifier
from cnnlab.data.datasets import DataConfig
from cnnlab.train import FitConfig
from tests.cli import cnnlab


def test_confused_pairs_are_the_largest_off_diagonal_cells():
    matrix = np.array([[5, 3, 0], [1, 7, 0], [0, 4, 2]])
    rows = confused_pairs(matrix, ["a", "b", "c"])
    assert [(r["true"], r["predicted as"], r["images"]) for r in rows] == [("c", "b", 4), ("a", "b", 3),
                                                                          ("b", "a", 1)]
    assert rows[0]["share of the class"] == "66.7%"


def test_report_has_top_losses_and_confused_pairs(capsys, digit_folder, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(digit_folder, data)
    cfg = ClassifyConfig(data=DataConfig(f"folder:{data}", image_size=16), model_args={"filters": [8, 16], "dense": 16},
                         fit=FitConfig(epochs=1), runs_dir=str(tmp_path), name="r")
    run = train_classifier(cfg).run.path
    report = (run / "report.html").read_text()
    assert "Most confused classes" in report and "Highest losses" in report and "predicted" in report
    assert (run / "top_losses.png").stat().st_size > 5000
    shutil.rmtree(data)  # the test images are gone: the rest of the report is still rebuilt
    code, out = cnnlab(capsys, "report", run)
    assert code == 0, out
    report = (run / "report.html").read_text()
    assert "Highest losses" in report and "not shown" in report and "Most confused classes" in report
