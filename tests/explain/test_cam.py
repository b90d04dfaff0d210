"""`cnnlab explain cam / maps` on runs: Grad-CAM of a classifier trained here on digits looks at the digit; a
similarity run's heat maps; feature maps, first-layer filters and receptive fields of any CNN."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab.models import create_model
from cnnlab.models.probe import cam_layer, receptive_fields
from cnnlab.report.cam import grad_cam
from cnnlab.trained import load_trained
from tests.cli import cnnlab

CANVAS, SIDE = 28, 14  # each digit scaled to 14x14 and put at a random place on a black 28x28 canvas
CLASSES = 5  # digits 0 to 4: about 900 images, enough to learn where a digit is in a few seconds


@pytest.fixture(scope="module")
def placed_digits(tmp_path_factory):
    """scikit-learn's digits, each at a random place on a larger canvas, as a class-folder of PNGs whose names
    say where the digit is (ROW_COL_INDEX.png): Grad-CAM must find it."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("placed")
    for k, (image, label) in enumerate(zip(bunch.images, bunch.target, strict=True)):
        if label >= CLASSES:
            continue
        digit = Image.fromarray(np.round(image * 255 / 16).astype(np.uint8)).resize((SIDE, SIDE),
                                                                                    Image.Resampling.BILINEAR)
        canvas = Image.new("L", (CANVAS, CANVAS))
        row, col = (int(v) for v in rng.integers(0, CANVAS - SIDE + 1, 2))
        canvas.paste(digit, (col, row))
        (root / str(label)).mkdir(exist_ok=True)
        canvas.save(root / str(label) / f"{row}_{col}_{k}.png")
    return root


@pytest.fixture(scope="module")
def digits_run(placed_digits, tmp_path_factory):
    """The baseline CNN (two convolutions) trained on the placed digits (10-30 s on two busy cores)."""
    from cnnlab.classify.config import ClassifyConfig
    from cnnlab.classify.training import train_classifier
    from cnnlab.data.config import DataConfig
    from cnnlab.train import FitConfig

    cfg = ClassifyConfig(data=DataConfig(f"folder:{placed_digits}", image_size=CANVAS),
                         model_args={"filters": [16, 32], "dense": 64}, fit=FitConfig(epochs=6, batch_size=32),
                         runs_dir=str(tmp_path_factory.mktemp("runs")), name="d")
    return train_classifier(cfg).run.path


def digit_pictures(placed_digits, count=40):
    """`count` test pictures of the placed digits: (path, label, row, column of the digit)."""
    paths = sorted(placed_digits.glob("*/*.png"), key=lambda p: int(p.stem.split("_")[2]))[-count:]
    return [(p, int(p.parent.name), *map(int, p.stem.split("_")[:2])) for p in paths]


def test_grad_cam_puts_more_weight_inside_the_digit_than_outside(digits_run, placed_digits):
    trained = load_trained(digits_run, device="cpu")
    inside, outside = [], []
    for path, label, row, col in digit_pictures(placed_digits):
        x = torch.from_numpy(np.asarray(Image.open(path), np.float32) / 255)[None, None]  # (1, 1, 28, 28)
        heat, layer = grad_cam(trained.model, trained.network, x, [label])
        digit = np.zeros((CANVAS, CANVAS), bool)
        digit[row:row + SIDE, col:col + SIDE] = True
        inside.append(heat[0][digit].mean())
        outside.append(heat[0][~digit].mean())
    assert layer == "features"  # the last feature maps, before the head's Flatten
    assert np.mean(inside) > 2 * np.mean(outside), (np.mean(inside), np.mean(outside))
    assert sum(i > o for i, o in zip(inside, outside, strict=True)) >= 0.7 * len(inside)  # one by one: 85% here


def test_cam_command_writes_a_figure_per_image_and_a_table(capsys, digits_run, placed_digits, tmp_path):
    paths = [p for p, *_ in digit_pictures(placed_digits, count=2)]
    code, out = cnnlab(capsys, "explain", "cam", digits_run, *paths, "--top-k", "2", "--out", tmp_path / "o")
    assert code == 0, out
    assert "probability" in out and paths[0].name in out
    figures = sorted((tmp_path / "o").glob("cam-*.png"))
    assert len(figures) == 2 and all(f.stat().st_size > 5000 for f in figures)
    code, out = cnnlab(capsys, "explain", "cam", digits_run, paths[0], "--class", "3", "--out", tmp_path / "o")
    assert code == 0 and " 3 " in out
    code, out = cnnlab(capsys, "explain", "cam", digits_run, paths[0], "--class", "cat", "--out", tmp_path / "o")
    assert code == 2 and "Valid names" in out and "Traceback" not in out
    (tmp_path / "bad.png").write_text("no image")
    code, out = cnnlab(capsys, "explain", "cam", digits_run, tmp_path / "bad.png", "--out", tmp_path / "o")
    assert code == 2 and "cannot read image" in out and "nothing was written" in out
    code, out = cnnlab(capsys, "explain", "cam", digits_run, tmp_path / "bad.png", paths[0], "--out", tmp_path / "p")
    assert code == 0 and "cannot read image" in out and len(list((tmp_path / "p").glob("cam-*.png"))) == 1
    code, out = cnnlab(capsys, "explain", "cam", tmp_path, paths[0])
    assert code == 2 and "config.json" in out


def test_maps_command_shows_stages_filters_and_receptive_fields(capsys, digits_run, placed_digits, tmp_path):
    paths = [p for p, *_ in digit_pictures(placed_digits, count=1)]
    code, out = cnnlab(capsys, "explain", "maps", digits_run, paths[0], "--out", tmp_path / "o")
    assert code == 0, out
    # conv 3x3 (28x28 -> 26x26), max pool 2, conv 3x3 (13x13 -> 11x11): fields 3 and 3 + 1 + 2x2 = 8 pixels
    assert "16x26x26" in out and "32x11x11" in out and "3x3 px" in out and "8x8 px" in out
    assert (tmp_path / "o" / f"maps-{paths[0].stem}.png").stat().st_size > 5000
    assert (tmp_path / "o" / "first-filters.png").stat().st_size > 3000


def test_receptive_fields_and_cam_layer_of_a_timm_network():
    model = create_model("timm:resnet18", 3, 4, 64).eval()
    x = torch.rand(1, 3, 64, 64)
    name, _ = cam_layer(model.net, lambda: model(x))
    assert name == "layer4"  # the last feature maps before the global pool
    fields = receptive_fields(model.net, ["conv1", "layer1"], 3, 64)
    # conv 7x7 stride 2; then max pool 3x3 stride 2 (+2x2) and four 3x3 convs at stride 4 (+4x2x4): 43
    assert fields == {"conv1": (7, 2), "layer1": (43, 4)}
    heat, _ = grad_cam(model, model.net, x, [0, 3])
    assert heat.shape == (2, 64, 64) and heat.min() >= 0 and heat.max() <= 1


def test_similarity_cam_compares_two_images(capsys, placed_digits, tmp_path):
    from cnnlab.similarity.model import SimilarityNet

    net = SimilarityNet(create_model("baseline-cnn", 1, 3, CANVAS, filters=(8, 16)), "metric", 16).eval()
    run = tmp_path / "similarity" / "s"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text("{}")
    (run / ".cnnlab-run").write_text(json.dumps({"task": "similarity"}))
    torch.save({"similarity": net.describe(), "model": net.state_dict()}, run / "checkpoints" / "best.pt")
    paths = [p for p, *_ in digit_pictures(placed_digits, count=3)]
    code, out = cnnlab(capsys, "explain", "cam", run, *paths, "--out", tmp_path / "o")
    assert code == 0, out
    assert "cosine similarity" in out and len(list((tmp_path / "o").glob("cam-*.png"))) == 2
    code, out = cnnlab(capsys, "explain", "cam", run, paths[0], "--out", tmp_path / "o")
    assert code == 2 and "two or more" in out


def test_maps_of_a_unet_encoder_and_runs_without_a_cnn_refused(capsys, tmp_path):
    from cnnlab.explain.cam import Picture
    from cnnlab.explain.maps import run_maps
    from cnnlab.segment.model import create_unet
    from cnnlab.trained import TrainedNetwork

    unet = create_unet("resnet18", 2, image_size=64, pretrained=False).eval()
    trained = TrainedNetwork("segment", "U-Net", unet, unet.encoder, 3, 64, 3, 64, ["a", "b"])
    pic = Picture(tmp_path / "x.png", np.zeros((192, 192, 3), np.float32), torch.rand(1, 3, 64, 64))
    rows, written = run_maps(trained, pic, tmp_path / "o")
    assert [r["stride"] for r in rows] == ["2 px", "4 px", "8 px", "16 px", "32 px"] and len(written) == 2
    run = tmp_path / "generate" / "g"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text("{}")
    (run / ".cnnlab-run").write_text(json.dumps({"task": "generate"}))
    code, out = cnnlab(capsys, "explain", "maps", run, tmp_path / "x.png", "--out", tmp_path / "o")
    assert code == 2 and "generate run" in out and "Traceback" not in out
