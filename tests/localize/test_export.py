"""`cnnlab export` of a localizer (single head) and a grid detector: ONNX and safetensors checked against the run on
its stored test split (box IoU between the runtimes, class agreement), `localize predict` and `cnnlab.load` from
the files giving the run's boxes, and an export that differs refused with the figures."""

import json

import pytest

from cnnlab.localize.config import LocalizeConfig
from cnnlab.localize.training import train_localizer
from tests.cli import cnnlab
from tests.exports import break_onnx_exports, image_folder
from tests.exports import one_thread as _one_thread

pytest.importorskip("onnxruntime")
one_thread = pytest.fixture(scope="module")(_one_thread)
DATA = {"single": "digits", "detect": "digits-multi"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, one_thread):
    """A tiny trained run of each head, and its ONNX export at the default place (RUN/export/model.onnx)."""
    from cnnlab.localize.export import export_run

    root = tmp_path_factory.mktemp("locexport")
    found = {}
    for head, data in DATA.items():
        train_localizer(LocalizeConfig(data=data, head=head, model="baseline-cnn", pretrained=False, image_size=32,
                                       freeze_epochs=0, finetune_epochs=2, finetune_lr=3e-3, batch_size=32,
                                       device="cpu", runs_dir=str(root), name=head))
        found[head] = (root / "localize" / head, export_run(root / "localize" / head, "onnx"))
    return found


@pytest.fixture
def images(tmp_path, digits):
    return image_folder(tmp_path, digits, mode="RGB")


def predictions(folder):
    [path] = folder.glob("predictions.json")
    doc = json.loads(path.read_text())
    return [(a["image_id"], a["category_id"], a["bbox"], a["score"]) for a in doc["annotations"]]


def same_boxes(a, b):
    assert [(i, c) for i, c, _, _ in a] == [(i, c) for i, c, _, _ in b]
    for (_, _, box, score), (_, _, box2, score2) in zip(a, b, strict=True):
        assert box == pytest.approx(box2, abs=0.15) and score == pytest.approx(score2, abs=1e-3)


@pytest.mark.parametrize("head,fmt", [("single", "onnx"), ("detect", "onnx"), ("detect", "safetensors")])
def test_an_export_gives_the_run_s_boxes(runs, images, tmp_path, capsys, head, fmt):
    run, done = runs[head]
    if fmt == "onnx":
        out, said = run / "export" / "model.onnx", done["said"]
    else:
        out = tmp_path / "boxes.safetensors"
        code, said = cnnlab(capsys, "export", run, "--format", fmt, "--out", out)
        assert code == 0 and (tmp_path / "boxes.safetensors.json").is_file()
    assert "class agreement 100.00%" in said and "test images" in said, said
    figures = json.loads(out.with_name(out.name + ".parity.json").read_text())
    assert figures["passed"] and figures["split"] == "test" and figures["images"] >= 80
    assert figures["mean_box_iou"] >= 0.999 and figures["min_box_iou"] > 0.99 and figures["class_agreement"] == 1
    assert figures["boxes"] >= figures["images"]  # the detector compares every cell it would show
    assert cnnlab(capsys, "localize", "predict", run, images, "--out", tmp_path / "a")[0] == 0
    assert cnnlab(capsys, "localize", "predict", out, images, "--out", tmp_path / "b")[0] == 0
    a, b = predictions(tmp_path / "a"), predictions(tmp_path / "b")
    assert len({i for i, *_ in a}) == 4
    same_boxes(a, b)


def test_the_metadata_says_how_to_read_the_boxes(runs):
    import onnx

    for head, (run, _) in runs.items():
        info = json.loads({p.key: p.value for p in onnx.load(str(run / "export" / "model.onnx")).metadata_props}
                          ["cnnlab"])
        assert info["task"] == "localize" and info["head"] == head and info["classes"] == ["0", "1", "2"]
        assert info["box_format"].startswith("xyxy") and info["channels"] == 3 and info["image_size"] == 32
        assert list(info["outputs"]) == (["logits", "boxes"] if head == "single" else ["grid", "boxes", "scores"])
    assert "batched_nms" in info["decode"]["nms"] and info["decode"]["grid"] == info["spec"]["grid"]


def test_the_exported_cells_decode_to_the_run_s_boxes(runs):
    """What another program gets from the detector's ONNX file (every cell's box and scores, then NMS) is what
    cnnlab decodes from the grid."""
    import torch
    from torchvision.ops import batched_nms

    from cnnlab.localize.detect import decode
    from cnnlab.localize.exported import OnnxLocalizer
    from cnnlab.models.export import OnnxModel

    run, _ = runs["detect"]
    x = torch.rand(3, 3, 32, 32)
    grid, boxes, scores = OnnxModel.load(run / "export" / "model.onnx")(x)
    theirs = decode(OnnxLocalizer.load(run / "export" / "model.onnx")(x)["grid"])
    for i in range(3):
        score, label = scores[i].max(1)
        keep = torch.nonzero((score >= 0.05) | (score == score.max())).flatten()  # and always the best cell
        keep = keep[batched_nms(boxes[i][keep], score[keep], label[keep], 0.5)]
        assert torch.allclose(boxes[i][keep], theirs[i][0]) and torch.equal(label[keep], theirs[i][2])


def test_the_python_api_gives_boxes_from_the_run_and_its_export(runs, images):
    from cnnlab import load
    from cnnlab.localize.predictor import BoxPrediction

    run, _ = runs["single"]
    from_run = load(run, device="cpu").predict(images)
    from_file = load(run / "export" / "model.onnx").predict(images)
    assert all(isinstance(p, BoxPrediction) for p in from_run) and len(from_run) == 4
    for p, q in zip(from_run, from_file, strict=True):
        assert (p.width, p.height) == (q.width, q.height) and len(p.detections) == len(q.detections) == 1
        assert p.best.label == q.best.label and p.best.score == pytest.approx(q.best.score, abs=1e-4)
        assert p.best.box == pytest.approx(q.best.box, abs=1e-3)
        x0, y0, x1, y1 = p.best.box
        assert 0 <= x0 < x1 <= p.width + 1e-3 and 0 <= y0 < y1 <= p.height + 1e-3  # pixels of the image as given
    assert (from_run[0].width, from_run[0].height) == (40, 30)


def test_an_export_that_differs_is_refused_with_the_figures(runs, tmp_path, capsys, monkeypatch):
    run, _ = runs["single"]
    break_onnx_exports(monkeypatch)
    code, said = cnnlab(capsys, "export", run, "--out", tmp_path / "bad.onnx")
    assert code == 2 and "the export differs from the model: mean box IoU" in said, said
    assert not (tmp_path / "bad.onnx").exists()
    figures = json.loads((tmp_path / "bad.onnx.parity.json").read_text())
    assert not figures["passed"] and figures["mean_box_iou"] < 0.999


def test_wrong_files_and_runs_are_clear_errors(runs, images, tmp_path, capsys):
    from tests.cli import fake_run

    (tmp_path / "s.safetensors").write_bytes(b"")
    (tmp_path / "s.safetensors.json").write_text(json.dumps({"task": "segment", "spec": {}, "classes": []}))
    fake_run(tmp_path / "runs" / "generate" / "g", json.dumps({"task": "generate"}))
    for argv, expected in (
            (["localize", "predict", tmp_path / "s.safetensors", images], "is an export of a segment model"),
            (["localize", "predict", runs["single"][0] / "missing.onnx", images], "missing.onnx is not a file"),
            (["export", tmp_path / "runs" / "generate" / "g"], "is a generate run; export takes classify, segment"),
            (["export", runs["single"][0], "--out", tmp_path / "x.safetensors"], "must end in .onnx")):
        code, said = cnnlab(capsys, *argv)
        assert code == 2 and expected in said, said
