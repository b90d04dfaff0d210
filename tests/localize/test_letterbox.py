"""Letterboxing: images keep their aspect in the network's square (a gray border fills the rest), boxes go into
the square and come back out to each image's own pixels, metrics are judged in the images' own frames, and runs
from before --resize keep stretching."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from cnnlab.data.boxes import read_boxes
from cnnlab.data.boxes.frame import PAD, fit_image, from_frame, region, to_frame
from cnnlab.data.boxes.tensors import box_tensors
from cnnlab.errors import ConfigError
from cnnlab.localize.config import LocalizeConfig
from cnnlab.localize.evaluate import image_targets
from tests.cli import cnnlab
from tests.localize.formats import draw_shape


def square_on(width: int, height: int, box: tuple[int, int, int, int]) -> Image.Image:
    pixels = np.zeros((height, width, 3), np.uint8)
    x0, y0, x1, y1 = box
    pixels[y0:y1, x0:x1] = 255
    return Image.fromarray(pixels)


def bright_box(img: Image.Image) -> torch.Tensor:
    """The box (x0, y0, x1, y1) in pixels around the pixels at least half lit (a resized edge is half lit where
    the edge lies)."""
    ys, xs = np.nonzero(np.asarray(img)[..., 0] > 160)
    return torch.tensor([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=torch.float32)


@pytest.mark.parametrize("width,height,box", [(120, 60, (70, 20, 90, 40)), (60, 120, (5, 80, 37, 112)),
                                              (121, 47, (0, 0, 30, 47))])
def test_a_box_goes_through_the_letterbox_and_back_within_a_pixel(width, height, box):
    img, side = square_on(width, height, box), 64
    square = fit_image(img, side, "letterbox")
    assert square.size == (side, side)
    where = torch.tensor(region(width, height, side, "letterbox"))
    scale = torch.tensor([width, height, width, height], dtype=torch.float32)
    seen = bright_box(square)  # where the square landed in the network's input, pixels of the square
    assert (to_frame(torch.tensor(box) / scale, where) * side - seen).abs().max() <= 1
    back = from_frame(seen / side, where) * scale  # and back out, in pixels of the image
    assert (back - torch.tensor(box)).abs().max() <= 1
    x0, y0, x1, y1 = (round(v * side) for v in where.tolist())
    assert (x1 - x0) / (y1 - y0) == pytest.approx(width / height, rel=0.1)  # the aspect is kept
    border = np.asarray(square)[:y0].reshape(-1, 3).tolist() + np.asarray(square)[y1:].reshape(-1, 3).tolist() + \
        np.asarray(square)[:, :x0].reshape(-1, 3).tolist() + np.asarray(square)[:, x1:].reshape(-1, 3).tolist()
    assert border and all(p == [PAD] * 3 for p in border)
    assert region(width, height, side, "stretch") == (0, 0, 1, 1)


def test_box_data_put_boxes_where_the_images_went_and_judge_them_in_the_images_own_frames(tmp_path):
    rng = np.random.default_rng(0)
    rows = ["filename,width,height,class,xmin,ymin,xmax,ymax"]
    truths = []
    for i, (w, h) in enumerate(((120, 60), (50, 100), (64, 64))):
        img, box = draw_shape(w, h, rng, (255, 255, 255))
        img.save(tmp_path / f"i{i}.png")
        rows.append(f"i{i}.png,{w},{h},a,{','.join(map(str, box))}")
        truths.append(torch.tensor(box, dtype=torch.float32) / torch.tensor([w, h, w, h]))
    (tmp_path / "b.csv").write_text("\n".join(rows) + "\n")
    found = {}
    for resize in ("letterbox", "stretch"):
        data = box_tensors(read_boxes(f"csv:{tmp_path / 'b.csv'}"), 48, resize=resize)
        for i in range(3):  # each target lies on its square in the network's input
            seen = bright_box(Image.fromarray(data.images[i].permute(1, 2, 0).numpy()))
            assert (data.targets[i, 0, 1:] * 48 - seen).abs().max() <= 1.01
        found[resize] = image_targets(data)[:, 0, 1:]
        assert torch.allclose(found[resize], torch.stack(truths), atol=1e-5)
    assert data.regions.tolist() == [[0, 0, 1, 1]] * 3


class FixedBox(nn.Module):
    """A stand-in localizer that always answers one box of the square, and keeps the input it was given."""

    def __init__(self, box):
        super().__init__()
        self.box, self.seen = torch.tensor([box]), None
        self.spec = type("Spec", (), {"backbone": {"image_size": 40, "in_channels": 3}, "head": "single"})()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        self.seen = x
        return {"logits": torch.tensor([[2.0, 0.0]]).expand(len(x), 2), "boxes": self.box.expand(len(x), 4)}


def test_predict_gives_boxes_in_the_image_s_own_pixels():
    from cnnlab.localize.predict import boxes_of

    model = FixedBox([0.25, 0.25, 0.75, 0.625])  # in the square; the 120 x 60 image lies in rows 10..30 of 40
    img = Image.new("RGB", (120, 60), (10, 10, 10))
    boxes, _, _ = boxes_of(model, img, 0.3, "letterbox")
    assert (boxes[0] * torch.tensor([120, 60, 120, 60])).tolist() == pytest.approx([30, 0, 90, 45], abs=1e-4)
    assert torch.all(model.seen[0, :, :10] == PAD / 255) and torch.all(model.seen[0, :, 30:] == PAD / 255)
    boxes, _, _ = boxes_of(model, img, 0.3, "stretch")
    assert boxes[0].tolist() == pytest.approx([0.25, 0.25, 0.75, 0.625])


def test_a_config_without_resize_is_a_run_from_before_and_stretches(capsys):
    old = {k: v for k, v in LocalizeConfig().to_dict().items() if k != "resize"}
    assert LocalizeConfig.from_dict(old).resize == "stretch"
    assert LocalizeConfig().resize == "letterbox"  # new runs
    assert LocalizeConfig.from_dict(LocalizeConfig().to_dict()).resize == "letterbox"
    with pytest.raises(ConfigError, match="--resize"):
        LocalizeConfig(resize="squash")
    code, out = cnnlab(capsys, "localize", "train", "--resize", "squash")
    assert code == 2 and "--resize" in out and "letterbox" in out


def test_a_run_from_before_resize_evaluates_predicts_and_resumes_as_it_did(tmp_path):
    from cnnlab.localize.predict import evaluate_run, load_model
    from cnnlab.localize.training import train_localizer
    from tests.localize.formats import write_shapes

    path = write_shapes(tmp_path / "data", 40)

    def cfg(epochs):
        return LocalizeConfig(data=f"csv:{path}", model="baseline-cnn", pretrained=False, image_size=32,
                              freeze_epochs=0, finetune_epochs=epochs, batch_size=16, device="cpu",
                              runs_dir=str(tmp_path / "runs"), name="old", **({"resize": "stretch"} if epochs == 1
                                                                              else {}))

    first = train_localizer(cfg(1))
    run = tmp_path / "runs/localize/old"
    config = json.loads((run / "config.json").read_text())
    del config["resize"]  # as a run made before --resize wrote it
    (run / "config.json").write_text(json.dumps(config))
    assert evaluate_run(run)["mean_iou"] == pytest.approx(first["mean_iou"])
    assert load_model(run)[2] == "stretch"
    resumed = train_localizer(cfg(2), resume=True, given={"finetune_epochs"})  # letterbox, the default, not given
    assert resumed["epochs"] == 2
    assert json.loads((run / "config.json").read_text())["resize"] == "stretch"


def test_letterboxed_training_predicts_boxes_on_each_image_s_own_pixels(shapes_run, tmp_path, capsys):
    from torchvision.ops import box_iou

    from cnnlab import load

    run, summary = shapes_run
    assert json.loads((run / "config.json").read_text())["resize"] == "letterbox" == summary["resize"]
    assert "letterbox" in (run / "report.html").read_text()
    assert summary["mean_iou"] > summary["baseline_mean_iou"] + 0.3  # measured 0.73 against 0.15
    rng = np.random.default_rng(7)
    truths = {}
    for i, (w, h) in enumerate(((150, 70), (60, 130), (90, 90), (200, 100))):
        img, box = draw_shape(w, h, rng, (255, 60, 60))
        img.save(tmp_path / f"new{i}.png")
        truths[f"new{i}.png"] = torch.tensor([box], dtype=torch.float32)
    code, out = cnnlab(capsys, "localize", "predict", run, *sorted(tmp_path.glob("new*.png")), "--out",
                       tmp_path / "out")
    assert code == 0, out
    doc = json.loads((tmp_path / "out/predictions.json").read_text())
    ious = []
    for image in doc["images"]:
        [ann] = [a for a in doc["annotations"] if a["image_id"] == image["id"]]
        x, y, w, h = ann["bbox"]
        name = image["file_name"].rsplit("/", 1)[-1]
        ious.append(float(box_iou(torch.tensor([[x, y, x + w, y + h]]), truths[name])))
        assert Image.open(tmp_path / "out" / name.replace(".png", "_boxes.png")).size == (image["width"],
                                                                                          image["height"])
    assert sum(iou > 0.5 for iou in ious) >= 3, ious
    api = load(run, device="cpu").predict(sorted(tmp_path.glob("new*.png")))
    for p, image in zip(api, sorted(doc["images"], key=lambda r: r["file_name"]), strict=True):
        [ann] = [a for a in doc["annotations"] if a["image_id"] == image["id"]]
        x, y, w, h = ann["bbox"]
        assert p.best.box == pytest.approx((x, y, x + w, y + h), abs=0.1)
    code, out = cnnlab(capsys, "localize", "evaluate", run)
    assert code == 0 and f"{summary['mean_iou']:.4f}" in out


def test_an_export_of_a_letterboxed_run_says_so_and_predicts_the_run_s_boxes(shapes_run, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    from cnnlab.localize.exported import load_exported

    run, _ = shapes_run
    out = tmp_path / "shapes.onnx"
    code, said = cnnlab(capsys, "export", run, "--out", out)
    assert code == 0, said
    model, _, resize = load_exported(out)
    assert resize == "letterbox" and model.info["resize"] == "letterbox"
    assert "fractions of the S x S input square" in model.info["box_format"]
    rng = np.random.default_rng(3)
    for i, (w, h) in enumerate(((150, 70), (60, 130))):
        draw_shape(w, h, rng, (60, 90, 255))[0].save(tmp_path / f"e{i}.png")
    for source, folder in ((run, "a"), (out, "b")):
        code, said = cnnlab(capsys, "localize", "predict", source, tmp_path / "e0.png", tmp_path / "e1.png", "--out",
                            tmp_path / folder)
        assert code == 0, said
    a, b = (json.loads((tmp_path / f / "predictions.json").read_text())["annotations"] for f in "ab")
    assert len(a) == len(b) == 2
    for x, y in zip(a, b, strict=True):
        assert x["bbox"] == pytest.approx(y["bbox"], abs=0.2)
