import json

import pytest
from PIL import Image

from cnnlab.classify.compare import compare_runs
from cnnlab.classify.config import ClassifyConfig
from cnnlab.classify.evaluate import load_classifier, predict_images
from cnnlab.classify.training import train_classifier
from cnnlab.data.augment import parse_augment
from cnnlab.data.datasets import DataConfig
from cnnlab.errors import DataError
from cnnlab.report.overfit import overfitting_verdict
from cnnlab.train import FitConfig
from tests.cli import run_cli
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    cfg = ClassifyConfig(data=DataConfig("digits", image_size=16), model_args={"filters": [32, 64], "dense": 64},
                         augment=parse_augment("rotation=10,shift=0.1"),
                         fit=FitConfig(epochs=8, batch_size=32, schedule="cosine"), runs_dir=str(root), name="d")
    return train_classifier(cfg)


def test_digits_learns_far_above_chance_and_writes_its_folder(digits_run):
    assert digits_run.summary["test_acc"] > 0.9  # chance is 0.1
    files = {p.name for p in digits_run.run.path.iterdir()}
    assert {"config.json", "metrics.jsonl", "history.png", "confusion.png", "report.html", "summary.json",
            "log.txt", "checkpoints"} <= files
    report = (digits_run.run.path / "report.html").read_text()
    assert "data:image/png;base64," in report and "overfitting" in report.lower()
    assert f"{digits_run.summary['params']:,}" in report
    summary = json.loads((digits_run.run.path / "summary.json").read_text())
    assert summary["overfitting"]["text"] and summary["train_seconds"] > 0


def test_predict_files_and_folders(digits_run, digits, tmp_path):
    images, labels = digits
    for i in range(40):
        Image.fromarray(images[-(i + 1)]).save(tmp_path / f"{labels[-(i + 1)]}_{i}.png")
    (tmp_path / "broken.png").write_text("no")
    loaded = load_classifier(digits_run.run.path)
    results = predict_images(loaded, [tmp_path], top_k=3)
    good = [r for r in results if "top" in r]
    assert len(good) == 40 and "error" in next(r for r in results if r["path"].endswith("broken.png"))
    right = sum(r["top"][0][0] == r["path"].split("/")[-1].split("_")[0] for r in good)
    assert right >= 32
    assert all(len(r["top"]) == 3 and r["top"][0][1] >= r["top"][1][1] for r in good)
    with pytest.raises(DataError, match="does not exist"):
        predict_images(loaded, [tmp_path / "nope.png"])


def test_compare_writes_table_and_curves(digits_run, tmp_path):
    rows = compare_runs([digits_run.run.path, digits_run.run.path], tmp_path / "cmp")
    assert rows[0]["params"] == digits_run.summary["params"] and rows[0]["test acc"] > 0.9
    assert (tmp_path / "cmp" / "compare.png").stat().st_size > 1000
    assert "overfits from" in rows[0]


def test_overfitting_verdict():
    rising = [{"epoch": e + 1, "train_loss": 1 / (e + 1), "val_loss": v, "train_acc": 0.5 + e / 20, "val_acc": 0.6}
              for e, v in enumerate([1.0, 0.6, 0.5, 0.55, 0.7, 0.9])]
    verdict = overfitting_verdict(rising)
    assert verdict.overfits and verdict.onset_epoch == 4 and verdict.best_epoch == 3
    assert verdict.gap == pytest.approx(0.75 - 0.6)
    falling = [dict(r, val_loss=1 / (r["epoch"])) for r in rising]
    assert not overfitting_verdict(falling).overfits


def test_cli_end_to_end(tmp_path):
    train = ["classify", "train", "--data", "digits", "--image-size", "16", "--epochs", "2", "--model-arg",
             "filters=16,32", "--name", "cli", "--runs-dir", str(tmp_path), "--precision", "bf16",
             "--channels-last", "on"]
    done = run_cli(*train, cwd=tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout
    run = tmp_path / "classify" / "cli"
    assert (run / "report.html").is_file()
    again = run_cli(*train, cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stdout and "Traceback" not in again.stdout + again.stderr
    evaluated = run_cli("classify", "evaluate", str(run), cwd=tmp_path)
    assert evaluated.returncode == 0 and "accuracy" in evaluated.stdout
    evaluated = run_cli("classify", "evaluate", str(run), "--split", "val", "--out", str(tmp_path / "val.json"),
                        cwd=tmp_path)
    judged = json.loads((tmp_path / "val.json").read_text())
    assert evaluated.returncode == 0 and judged["judged"] == "val" and sum(
        c["images"] for c in judged["per_class"].values()) == judged["count"]
    best = min((json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()),
               key=lambda r: r["val_loss"])
    # evaluate runs the model as training validated it (bf16, NHWC here), so it gives training's figures
    assert judged["loss"] == pytest.approx(best["val_loss"], rel=1e-5)
    assert judged["acc"] == pytest.approx(best["val_acc"])
    preview = run_cli("classify", "augment-preview", "--data", "digits", "--out", str(tmp_path / "p.png"), cwd=tmp_path)
    assert preview.returncode == 0 and (tmp_path / "p.png").stat().st_size > 1000
    summary = run_cli("models", "summary", "resnet34", "--input", "32x32x3", cwd=tmp_path)
    assert "21,282,122" in summary.stdout and "feature maps" in summary.stdout
    bad = run_cli("classify", "train", "--model", "resnet43", "--runs-dir", str(tmp_path), cwd=tmp_path)
    assert bad.returncode == 2 and "resnet34" in bad.stdout and "Traceback" not in bad.stdout + bad.stderr
    small = run_cli("classify", "train", "--image-size", "6", "--runs-dir", str(tmp_path), "--name", "small",
                    cwd=tmp_path)
    assert small.returncode == 2 and "--image-size" in small.stdout


def test_sweep_trains_three_networks_with_and_without_augmentation(tmp_path):
    done = run_cli("classify", "sweep", "--data", "digits", "--image-size", "32", "--epochs", "1", "--runs-dir",
                   str(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = json.loads((tmp_path / "classify" / "sweep-compare" / "compare.json").read_text())
    assert len(rows) == 6 and len({r["params"] for r in rows}) == 3
    assert sorted(r["augment"] for r in rows) == [False] * 3 + [True] * 3
    (tmp_path / "classify" / rows[0]["run"] / "report.html").unlink()
    rebuilt = run_cli("report", str(tmp_path / "classify" / rows[0]["run"]), cwd=tmp_path)
    assert rebuilt.returncode == 0 and (tmp_path / "classify" / rows[0]["run"] / "report.html").is_file()


@pytest.mark.shared
@pytest.mark.slow
def test_fashion_mnist_files_learn(tmp_path):
    cfg = ClassifyConfig(data=DataConfig("fashion-mnist", root=str(shared_path("fashion-mnist-subset"))),
                         fit=FitConfig(epochs=3, batch_size=64), runs_dir=str(tmp_path), name="fm")
    assert train_classifier(cfg).summary["test_acc"] > 0.7  # chance 0.1; logistic regression reaches 0.82


@pytest.mark.shared
@pytest.mark.slow
def test_cifar10_jpeg_copy_learns(tmp_path):
    data = DataConfig("cifar10", root=str(shared_path("cifar10-jpeg")), train_per_class=300)
    cfg = ClassifyConfig(data=data, fit=FitConfig(epochs=4, batch_size=64), runs_dir=str(tmp_path), name="c")
    assert train_classifier(cfg).summary["test_acc"] > 0.3  # chance 0.1, on all 10,000 test images
