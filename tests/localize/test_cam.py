"""`cnnlab explain cam` of a localize run: Grad-CAM of a localizer gathers on the object (a bright square on noise)
for its class and for its box, over images of any aspect; figures are written without replacing files; bad input
is our error."""

import json

import numpy as np
import pytest
import torch

from cnnlab.localize.cam import explain_image, heat_ratio
from cnnlab.localize.predict import load_localizer
from tests.cli import cnnlab, fake_run
from tests.localize.formats import draw_shape

SIZES = ((150, 70), (60, 130), (90, 90), (200, 100))


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("target", ["class", "box"])
def test_the_heat_map_gathers_on_the_object(shapes_run, one_thread, target):
    _, cfg, model, _ = load_localizer(shapes_run[0])
    rng = np.random.default_rng(11)
    gathered = peaks = 0
    for i in range(12):
        width, height = SIZES[i % len(SIZES)]
        img, (x0, y0, x1, y1) = draw_shape(width, height, rng, (255, 60, 60) if i % 2 else (60, 90, 255))
        cam = explain_image(model, img, cfg.resize, target)
        rows, cols = cam.heat.shape
        assert abs(cols / rows - width / height) < 0.05 * width / height  # the map lies over the image, border cut
        box = (x0 / width, y0 / height, x1 / width, y1 / height)
        gathered += heat_ratio(cam.heat, box) > 1  # hotter in the box than at a random place, on average
        r, c = np.unravel_index(cam.heat.argmax(), cam.heat.shape)
        peaks += box[0] - 0.1 <= c / cols <= box[2] + 0.1 and box[1] - 0.1 <= r / rows <= box[3] + 0.1
    assert gathered >= 10 and peaks >= 8, (gathered, peaks)  # measured 12 and 10 of 12 for either target


def test_the_command_draws_each_image_and_keeps_existing_files(shapes_run, tmp_path, capsys):
    rng = np.random.default_rng(2)
    for name, (w, h) in (("wide", (150, 70)), ("tall", (60, 130))):
        draw_shape(w, h, rng, (255, 60, 60))[0].save(tmp_path / f"{name}.png")
    (tmp_path / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    out.mkdir()
    (out / "cam-wide-box.png").write_bytes(b"mine")
    code, said = cnnlab(capsys, "explain", "cam", shapes_run[0], tmp_path / "wide.png", tmp_path / "tall.png",
                        tmp_path / "broken.png", "--target", "box", "--out", out, "--device", "cpu")
    assert code == 0, said
    assert "broken.png" in said and "Grad-CAM (box)" in said and "heat in box / image" in said
    assert (out / "cam-wide-box.png").read_bytes() == b"mine"  # never replaced
    assert {p.name for p in out.iterdir()} == {"cam-wide-box.png", "cam-wide-box-2.png", "cam-tall-box.png"}
    code, said = cnnlab(capsys, "explain", "cam", shapes_run[0], tmp_path / "wide.png", "--out", out)
    assert code == 0 and (out / "cam-wide-class.png").is_file(), said


def test_bad_input_is_our_error(shapes_run, tmp_path, capsys):
    good = tmp_path / "a.png"
    draw_shape(80, 40, np.random.default_rng(0), (255, 60, 60))[0].save(good)
    (tmp_path / "broken.png").write_bytes(b"not an image")
    fake_run(tmp_path / "runs/segment/s", json.dumps({"task": "segment", "data": "x"}))
    (tmp_path / "model.onnx").write_bytes(b"")
    run = shapes_run[0]
    for argv, expected in (
            ([tmp_path / "runs/segment/s", good], "no trained model yet"),
            ([tmp_path / "nowhere", good], "nowhere"),
            ([tmp_path / "model.onnx", good], "Grad-CAM needs the gradients"),
            ([run, tmp_path / "missing.png"], "missing.png does not exist"),
            ([run, tmp_path / "broken.png"], "no image could be read"),
            ([run, good, "--target", "corner"], "--target"),
            ([run, good, "--out", good], "is a file")):
        elsewhere = [] if "--out" in argv else ["--out", tmp_path / "o"]
        code, said = cnnlab(capsys, "explain", "cam", *argv, *elsewhere)
        assert code == 2 and expected in said and "Traceback" not in said, (argv, said)
    assert not (tmp_path / "o").exists()
    code, said = cnnlab(capsys, "localize", "explain", run, good, "--out", tmp_path / "o")  # its old name
    assert code == 0 and "is now `cnnlab explain cam`" in said, said
    assert [p.name for p in (tmp_path / "o").iterdir()] == ["cam-a-class.png"]


def test_the_grid_detector_is_explained_too(tmp_path, one_thread, capsys):
    from cnnlab.localize.config import LocalizeConfig
    from cnnlab.localize.training import train_localizer
    from tests.localize.formats import write_shapes

    path = write_shapes(tmp_path / "data", 40)
    train_localizer(LocalizeConfig(data=f"csv:{path}", head="detect", model="baseline-cnn", pretrained=False,
                                   image_size=32, freeze_epochs=0, finetune_epochs=1, batch_size=16, device="cpu",
                                   runs_dir=str(tmp_path / "runs"), name="det"))
    for target in ("class", "box"):
        code, said = cnnlab(capsys, "explain", "cam", tmp_path / "runs/localize/det", tmp_path / "data/s0.png",
                            "--target", target, "--out", tmp_path / "out")
        assert code == 0 and (tmp_path / f"out/cam-s0-{target}.png").is_file(), said
