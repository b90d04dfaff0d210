"""`cnnlab export` of a U-Net: ONNX and safetensors checked against the run on its validation images (mask
agreement, logit difference), `segment predict` and `cnnlab.load` from the files giving the run's masks, and an
export that differs refused with the figures."""

import json

import numpy as np
import pytest

from cnnlab.segment.augment import NONE
from cnnlab.segment.training import SegmentConfig, train_unet
from tests.cli import cnnlab
from tests.exports import break_onnx_exports, image_folder, mask_pngs
from tests.exports import one_thread as _one_thread

pytest.importorskip("onnxruntime")
one_thread = pytest.fixture(scope="module")(_one_thread)


@pytest.fixture(scope="module")
def run(tmp_path_factory, one_thread):
    root = tmp_path_factory.mktemp("segexport")
    cfg = SegmentConfig(data="digits", image_size=32, freeze_epochs=1, batch_size=32, pretrained=False, augment=NONE,
                        device="cpu", runs_dir=str(root), name="d")
    train_unet(cfg)
    return root / "segment" / "d"


@pytest.fixture(scope="module")
def onnx_file(run):
    """The run exported as the command does by default: RUN/export/model.onnx."""
    from cnnlab.segment.export import export_run

    return export_run(run, "onnx")


@pytest.fixture
def images(tmp_path, digits):
    return image_folder(tmp_path, digits)


@pytest.mark.parametrize("fmt", ["onnx", "safetensors"])
def test_an_export_gives_the_run_s_masks(run, onnx_file, images, tmp_path, capsys, fmt):
    if fmt == "onnx":
        out, said = run / "export" / "model.onnx", onnx_file["said"]
        assert onnx_file["path"] == str(out)
    else:
        out = tmp_path / "unet.safetensors"
        code, said = cnnlab(capsys, "export", run, "--format", fmt, "--out", out)
        assert code == 0 and (tmp_path / "unet.safetensors.json").is_file()
    assert "mask agreement 100.000%" in said and "validation images" in said, said
    figures = json.loads(out.with_name(out.name + ".parity.json").read_text())
    assert figures["passed"] and figures["split"] == "val" and figures["images"] >= 100
    assert figures["mask_agreement"] >= 0.999 and figures["max_abs_logit_diff"] < 1e-3
    assert figures["pixels"] == figures["images"] * 32 * 32
    assert cnnlab(capsys, "segment", "predict", run, images, "--out", tmp_path / "a")[0] == 0
    assert cnnlab(capsys, "segment", "predict", out, images, "--out", tmp_path / "b")[0] == 0
    a, b = mask_pngs(tmp_path / "a"), mask_pngs(tmp_path / "b")
    assert list(a) == list(b) == [f"{i}_mask.png" for i in range(4)]
    assert a["0_mask.png"].shape == (30, 40)  # at the image's own size
    assert all((a[k] == b[k]).mean() >= 0.999 for k in a)
    assert any(len(np.unique(m)) == 2 for m in a.values())  # masks with both classes: a comparison that says something


def test_the_metadata_says_what_the_model_takes_and_gives(run, onnx_file):
    import onnx

    path = run / "export" / "model.onnx"
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    info = json.loads(meta["cnnlab"])
    assert info["task"] == "segment" and info["classes"] == ["background", "stroke"]
    assert info["channels"] == 1 and info["image_size"] == 32 and len(info["mean"]) == len(info["std"]) == 3
    assert "argmax" in info["decode"]["mask"] and "logits" in info["outputs"]
    assert (run / "export" / "model.onnx.parity.json").is_file()


def test_the_python_api_gives_masks_from_the_run_and_its_export(run, onnx_file, images, tmp_path, capsys):
    from PIL import Image

    from cnnlab import load
    from cnnlab.segment.predictor import MaskPrediction

    exported = run / "export" / "model.onnx"
    from_run = load(run, device="cpu").predict(images)
    from_file = load(exported).predict(sorted(images.glob("*.png")))
    assert all(isinstance(p, MaskPrediction) for p in from_run) and len(from_run) == len(from_file) == 4
    for p, q in zip(from_run, from_file, strict=True):
        assert p.mask.dtype == np.uint8 and p.mask.shape == q.mask.shape and (p.mask == q.mask).mean() >= 0.999
    assert from_run[0].mask.shape == (30, 40) and set(from_run[0].share) <= {"background", "stroke"}
    array = np.asarray(Image.open(images / "0.png"))
    [same] = load(exported).predict(array)
    assert same.source == "image 0" and np.array_equal(same.mask, from_file[0].mask)
    assert cnnlab(capsys, "segment", "predict", run, images / "0.png", "--out", tmp_path / "cli")[0] == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "cli" / "0_mask.png")), from_run[0].mask)


def test_an_export_that_differs_is_refused_with_the_figures(run, tmp_path, capsys, monkeypatch):
    break_onnx_exports(monkeypatch)
    code, said = cnnlab(capsys, "export", run, "--out", tmp_path / "bad.onnx")
    assert code == 2 and "the export differs from the model: mask agreement" in said, said
    assert not (tmp_path / "bad.onnx").exists()
    figures = json.loads((tmp_path / "bad.onnx.parity.json").read_text())
    assert not figures["passed"] and figures["mask_agreement"] < 0.999


def test_wrong_files_are_clear_errors(run, images, tmp_path, capsys):
    (tmp_path / "c.safetensors").write_bytes(b"")
    (tmp_path / "c.safetensors.json").write_text(json.dumps({"task": "classify", "spec": {}, "classes": []}))
    (tmp_path / "fake.onnx").write_bytes(b"not onnx")
    for argv, expected in (
            (["segment", "predict", tmp_path / "c.safetensors", images], "is an export of a classify model"),
            (["segment", "predict", tmp_path / "fake.onnx", images], "is not an ONNX model exported by cnnlab"),
            (["segment", "predict", tmp_path / "none.onnx", images], "none.onnx is not a file"),
            (["export", run, "--format", "safetensors", "--out", run / "config.json"], "must end in .safetensors")):
        code, said = cnnlab(capsys, *argv)
        assert code == 2 and expected in said, said
