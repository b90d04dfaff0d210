"""`cnnlab export`: ONNX and safetensors files checked against the run's model on its test images, and
`classify predict` from them giving what the run folder gives."""

import json

import pytest
from PIL import Image

from cnnlab.classify.config import ClassifyConfig
from cnnlab.classify.training import train_classifier
from cnnlab.data.augment import parse_augment
from cnnlab.data.config import DataConfig
from cnnlab.train import FitConfig
from tests.cli import cnnlab

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    cfg = ClassifyConfig(data=DataConfig("digits", image_size=16), model="baseline-cnn",
                         model_args={"filters": [8, 16], "dense": 16}, augment=parse_augment("none"),
                         fit=FitConfig(epochs=2, batch_size=64), runs_dir=str(root), name="d")
    return train_classifier(cfg).run.path


@pytest.fixture
def images(tmp_path, digits):
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(6):
        Image.fromarray(digits[0][i]).save(folder / f"{i}.png")
    return folder


@pytest.mark.parametrize("fmt", ["onnx", "safetensors"])
def test_an_export_equals_the_run_and_predicts_alike(run, images, tmp_path, capsys, fmt):
    out = tmp_path / f"m.{fmt}"
    code, said = cnnlab(capsys, "export", run, "--format", fmt, "--out", out)
    assert code == 0 and "top-1 agreement 100.00%" in said, said
    figures = json.loads((tmp_path / f"m.{fmt}.parity.json").read_text())
    assert figures["top1_agreement"] == 1.0 and figures["max_abs_logit_diff"] < 1e-3 and figures["images"] > 100
    code, from_run = cnnlab(capsys, "classify", "predict", run, images, "--json")
    code2, from_file = cnnlab(capsys, "classify", "predict", out, images, "--json")
    assert code == code2 == 0
    a, b = json.loads(from_run), json.loads(from_file)
    assert [r["top"][0][0] for r in a] == [r["top"][0][0] for r in b]
    assert all(x["top"][0][1] == pytest.approx(y["top"][0][1], abs=1e-4) for x, y in zip(a, b, strict=True))
    code, again = cnnlab(capsys, "export", run, "--format", fmt, "--out", out)  # never over an earlier export
    assert code == 0 and (tmp_path / f"m-2.{fmt}").is_file()


def test_an_export_that_differs_is_not_kept(run, tmp_path, capsys, monkeypatch):
    import cnnlab.classify.export as export

    monkeypatch.setattr(export, "parity", lambda *a: {"images": 10, "max_abs_logit_diff": 0.5, "top1_agreement": 0.9})
    code, said = cnnlab(capsys, "export", run, "--out", tmp_path / "bad.onnx")
    assert code == 2 and "the export differs from the model: top-1 agreement 90.00%" in said
    assert not (tmp_path / "bad.onnx").exists()


def test_bad_exports_and_options_are_clear_errors(run, images, tmp_path, capsys):
    (tmp_path / "fake.onnx").write_bytes(b"not onnx")
    for argv, expected in (
            (["classify", "predict", tmp_path / "fake.onnx", images], "is not an ONNX model exported by cnnlab"),
            (["classify", "predict", tmp_path / "none.safetensors", images], "none.safetensors is not a file"),
            (["export", run, "--format", "tflite"], "--format must be one of onnx, safetensors"),
            (["export", run, "--opset", "9"], "--opset must be from 17 to 23"),
            (["export", run, "--format", "safetensors", "--out", tmp_path / "config.json"], "must end in .safetensors"),
            (["classify", "evaluate", tmp_path / "fake.onnx"], "evaluate takes a run folder")):
        code, said = cnnlab(capsys, *argv)
        assert code == 2 and expected in said, said


def test_the_python_api_predicts_from_paths_pil_images_arrays_and_exports(run, images, tmp_path):
    import numpy as np
    import torch

    import cnnlab

    model = cnnlab.load(run, device="cpu")
    files = sorted(images.glob("*.png"))
    by_path = model.predict(files)
    pil = Image.open(files[0])
    same = model.predict([pil, np.asarray(pil), torch.from_numpy(np.asarray(pil)[None] / 255.0)])
    assert [p.label for p in same] == [by_path[0].label] * 3 and same[0].source == "image 0"
    assert same[0].probability == pytest.approx(by_path[0].probability, abs=1e-5)
    assert len(model.predict(images)) == 6 and by_path[0].top[0] == (by_path[0].label, by_path[0].probability)
    from cnnlab.classify.evaluate import load_classifier, predict_images

    cli = predict_images(load_classifier(run, device="cpu"), [images])
    assert [p.label for p in by_path] == [r["top"][0][0] for r in cli]  # what `classify predict` says
    cnnlab_out = tmp_path / "api.onnx"
    code = __import__("cnnlab.classify.export", fromlist=["export_run"]).export_run(run, "onnx", cnnlab_out)
    assert code["top1_agreement"] == 1.0
    assert [p.label for p in cnnlab.load(cnnlab_out).predict(files)] == [p.label for p in by_path]
    with pytest.raises(cnnlab.CnnlabError, match="give a file path, a PIL image"):
        model.predict([{"not": "an image"}])
    batch = torch.from_numpy(np.stack([np.asarray(Image.open(f)) for f in files[:3]])[:, None] / 255.0)
    assert [p.label for p in model.predict(batch)] == [p.label for p in by_path[:3]]  # (N, C, H, W): N images
    with pytest.raises(cnnlab.CnnlabError, match="an array of shape"):
        model.predict(np.zeros((2, 3, 4, 5, 6)))


def test_exports_of_both_formats_side_by_side_keep_their_own_files(run, tmp_path, capsys):
    for fmt in ("safetensors", "onnx"):
        assert cnnlab(capsys, "export", run, "--format", fmt, "--out", tmp_path / f"model.{fmt}")[0] == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["model.onnx", "model.onnx.parity.json", "model.safetensors", "model.safetensors.json",
                     "model.safetensors.parity.json"]
    assert json.loads((tmp_path / "model.safetensors.parity.json").read_text())["format"] == "safetensors"
