"""A run keeps its split: evaluating after the folder changed uses the run's own test images, and says so."""

import json
import shutil

from cnnlab.classify.config import ClassifyConfig
from cnnlab.classify.training import train_classifier
from cnnlab.data.datasets import DataConfig
from cnnlab.train import FitConfig
from tests.cli import run_cli


def test_evaluate_after_the_folder_changed_uses_the_runs_own_test_images(digit_folder, tmp_path):
    cfg = ClassifyConfig(data=DataConfig(f"folder:{digit_folder}", image_size=16),
                         model_args={"filters": [8, 16], "dense": 16}, fit=FitConfig(epochs=1),
                         runs_dir=str(tmp_path / "runs"), name="kept")
    result = train_classifier(cfg)
    manifest = json.loads((result.run.path / "splits.json").read_text())
    test_files = manifest["test"]["paths"]
    train_files = set(manifest["train"]["paths"]) | set(manifest["val"]["paths"])
    assert len(test_files) == 12 and not train_files & set(test_files)

    (digit_folder / test_files[0]).unlink()  # one test image gone, and new images added to every class
    (digit_folder / test_files[1]).write_bytes((digit_folder / train_files.pop()).read_bytes() + b"\0" * 64)
    for cls in ("class0", "class1", "class2"):
        for k in range(5):
            shutil.copy(digit_folder / cls / "1.png", digit_folder / cls / f"new{k}.png")
    out = run_cli("classify", "evaluate", str(result.run.path), cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    text = " ".join(out.stdout.split())
    assert "1 of the 12 test images are gone" in text and "15 images were added" in text
    assert "1 of the test images changed since training" in text
    images = sum(int(line.split("│")[2]) for line in out.stdout.splitlines() if line.count("│") == 6
                 and line.split("│")[2].strip().isdigit())  # class, images, accuracy, precision, f1
    assert images == 11  # the run's test images that are left, none of the new ones, none of training's


def test_another_runs_checkpoint_is_refused_by_evaluate_predict_and_resume(digit_folder, tmp_path):
    import pytest
    import torch

    from cnnlab.classify.evaluate import load_classifier
    from cnnlab.errors import RunFolderError

    def run(name, folder, classes):
        cfg = ClassifyConfig(data=DataConfig(f"folder:{folder}", image_size=16), model_args={"filters": [8, 16],
                             "dense": 16}, fit=FitConfig(epochs=1), runs_dir=str(tmp_path / "runs"), name=name)
        return train_classifier(cfg).run.path, cfg

    three, cfg = run("three", digit_folder, 3)
    two_classes = tmp_path / "two"
    shutil.copytree(digit_folder, two_classes)
    shutil.rmtree(two_classes / "class2")
    two, _ = run("two", two_classes, 2)
    for name in ("best.pt", "last.pt"):
        shutil.copy(two / "checkpoints" / name, three / "checkpoints" / name)
    with pytest.raises(RunFolderError, match="another run's checkpoint"):
        load_classifier(three)
    out = run_cli("classify", "evaluate", str(three), cwd=tmp_path)
    assert out.returncode == 2 and "another run's checkpoint" in " ".join(out.stdout.split())
    with pytest.raises(RunFolderError, match="does not fit its model"):
        train_classifier(ClassifyConfig(**{**cfg.__dict__, "fit": FitConfig(epochs=2)}), resume=True)
    assert torch.load(three / "checkpoints" / "last.pt", weights_only=True)["engine"]["epoch"] == 1
