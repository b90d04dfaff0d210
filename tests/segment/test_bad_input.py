"""Bad values and bad files for every `cnnlab segment` verb: each ends with our error (exit 2, "error: ...")
and never a traceback. The table runs in this process through cnnlab.cli.main, as the console script does;
one subprocess case checks that the real command behaves the same."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab.segment.training import SegmentConfig, train_unet
from tests.cli import cnnlab, fake_run, run_cli


def write_pairs(root, masks, *, size=(32, 32), image=None):
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i, mask in enumerate(masks):
        pixels = image if image is not None else (np.arange(size[0] * size[1]).reshape(size[::-1]) % 251)
        Image.fromarray(pixels.astype(np.uint8)).save(root / "images" / f"{i}.png")
        Image.fromarray(np.asarray(mask).astype(np.uint8)).save(root / "masks" / f"{i}.png")
    return root


def square(value=255, size=32):
    m = np.zeros((size, size), np.uint8)
    m[8:24, 8:24] = value
    return m


def via(ws, name, project):
    (ws / "via").mkdir(exist_ok=True)
    path = ws / "via" / f"{name}.json"
    path.write_text(project if isinstance(project, str) else json.dumps(project))
    return f"via/{name}.json"


def region(shape, cls="cat"):
    return {"shape_attributes": shape, "region_attributes": {"class": cls}}


def entry(filename="a.png", regions=()):
    return {"_via_img_metadata": {"k1": {"filename": filename, "size": 1, "regions": list(regions)}}}


POLY = {"name": "polygon", "all_points_x": [2, 9, 9], "all_points_y": [1, 1, 6]}


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """A trained segment run, runs of other shapes, and bad data folders, files and VIA projects."""
    ws = tmp_path_factory.mktemp("segment-bad")
    write_pairs(ws / "data", [square()] * 6)
    train_unet(SegmentConfig(data=f"folder:{ws / 'data'}", image_size=32, freeze_epochs=1, batch_size=4,
                             pretrained=False,
                             augment=SegmentConfig().augment, device="cpu", runs_dir=str(ws / "runs"), name="seg"))
    run = ws / "runs" / "segment" / "seg"
    config = (run / "config.json").read_text()

    classify = {"data": {"name": "digits"}, "model": "baseline-cnn", "fit": {"epochs": 1}, "augment": {}}
    fake_run(ws / "classify-run", json.dumps(classify),
             {"model": {}, "spec": {"name": "baseline-cnn"}, "classes": ["a"]})
    gan = {"data": "digits:3", "generator": "transposed", "latent_dim": 8, "image_size": 32, "channels": 1,
           "width": 0.25, "epochs": 1, "augment": {}}
    fake_run(ws / "gan-run", json.dumps(gan), {"trainer": {}, "config": gan})
    fake_run(ws / "nockpt-run", config)
    fake_run(ws / "corrupt-run", config, b"\x00garbage")
    fake_run(ws / "empty-ckpt-run", config, b"")
    spec = {"encoder": "efficientnet_lite0", "num_classes": 2, "in_channels": 1, "image_size": 32}
    fake_run(ws / "mismatch-run", config, {"spec": spec, "model": {"x": torch.zeros(1)}, "classes": ["a", "b"]})
    fake_run(ws / "list-config-run", "[1, 2]", {})
    fake_run(ws / "edited-run", config.replace('"image_size": 32', '"image_size": "big"'), {})
    (ws / "bad-runs" / "segment" / "other" / "checkpoints").mkdir(parents=True)
    (ws / "bad-runs" / "segment" / "other" / "config.json").write_text(json.dumps(classify))
    torch.save({"model": {}}, ws / "bad-runs" / "segment" / "other" / "checkpoints" / "last.pt")

    Image.new("RGB", (40, 30), (200, 30, 30)).save(ws / "img.png")
    (ws / "fake.png").write_text("not an image")
    (ws / "afile.txt").write_text("a file")
    (ws / "empty").mkdir()
    (ws / "existing").mkdir()
    (ws / "existing" / "img_mask.png").write_text("someone's file")
    (ws / "weights.pth").write_bytes(b"")

    stray = [square()] * 4 + [square()]
    stray[-1] = stray[-1].copy()
    stray[-1][0, 0] = 7
    write_pairs(ws / "stray", stray)
    write_pairs(ws / "one", [square()])
    write_pairs(ws / "gray-pictures", [np.arange(32 * 32).reshape(32, 32) % 100] * 3)
    for name, text in (("no-classes", ""), ("one-class", "bg\n"), ("twice", "a\na\n"), ("binary-classes", b"\xff\xfe")):
        write_pairs(ws / name, [square(1)] * 3)
        path = ws / name / "classes.txt"
        path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text)
    palettes = {"palette-json": "{", "palette-keys": '{"classes": ["a", "b"]}',
                "palette-colour": '{"classes": ["a", "b"], "colors": [[0, 0, 0], [300, 0, 0]]}',
                "palette-list": "[1]"}
    for name, text in palettes.items():
        write_pairs(ws / name, [square()] * 3)
        (ws / name / "palette.json").write_text(text)
    write_pairs(ws / "corrupt-mask", [square()] * 3)
    (ws / "corrupt-mask" / "masks" / "1.png").write_bytes(b"\x89PNG broken")
    write_pairs(ws / "corrupt-image", [square()] * 3)
    (ws / "corrupt-image" / "images" / "1.png").write_bytes(b"\x89PNG broken")
    write_pairs(ws / "colour-mask", [square()] * 3)
    colour = np.zeros((32, 32, 3), np.uint8)
    colour[8:24, 8:24] = (255, 0, 0)
    Image.fromarray(colour).save(ws / "colour-mask" / "masks" / "2.png")
    write_pairs(ws / "mismatch", [square()] * 3)
    Image.new("L", (16, 16)).save(ws / "mismatch" / "masks" / "0.png")
    write_pairs(ws / "unpaired", [square()] * 3)
    Image.new("L", (32, 32)).save(ws / "unpaired" / "images" / "extra.png")
    (ws / "no-images" / "images").mkdir(parents=True)
    (ws / "no-images" / "masks").mkdir()
    (ws / "no-masks" / "images").mkdir(parents=True)

    images = ws / "via-images"
    (images / "sub").mkdir(parents=True)
    Image.new("RGB", (12, 8), (90, 90, 90)).save(images / "a.png")
    Image.new("RGB", (12, 8), (90, 90, 90)).save(images / "a.jpg")
    Image.new("RGB", (12, 8), (90, 90, 90)).save(ws / "victim.png")
    (images / "broken.png").write_bytes(b"not a png")
    (images / "notes.txt").write_text("text")
    (images / "link.png").symlink_to(ws / "victim.png")
    return ws


T = ["segment", "train", "--data", "folder:data", "--image-size", "32", "--epochs", "1", "--no-pretrained",
     "--batch-size", "4", "--runs-dir", "bad-runs", "--device", "cpu"]
TRAIN = [
    ("image-size-0", ["--image-size", "0"], "--image-size must be >= 32"),
    ("image-size-33", ["--image-size", "33"], "multiple of 32 for the U-Net; use 64"),
    ("image-size-huge", ["--image-size", "100000"], "--image-size must be >= 32 and <= 2048"),
    ("image-size-text", ["--image-size", "big"], "Invalid value"),
    ("epochs-negative", ["--epochs", "-1"], "--epochs must be >= 0"),
    ("no-epochs", ["--epochs", "0"], "give at least one epoch"),
    ("finetune-negative", ["--finetune-epochs", "-2"], "--finetune-epochs must be >= 0"),
    ("batch-0", ["--batch-size", "0"], "--batch-size must be >= 2"),
    ("batch-1", ["--batch-size", "1"], "--batch-size must be >= 2"),
    ("lr-0", ["--freeze-lr", "0"], "--freeze-lr must be > 0"),
    ("lr-negative", ["--freeze-lr", "-0.1"], "--freeze-lr must be > 0"),
    ("lr-nan", ["--freeze-lr", "nan"], "--freeze-lr must be finite"),
    ("lr-inf", ["--freeze-lr", "inf"], "--freeze-lr must be finite"),
    ("phases-beyond-epochs", ["--freeze-epochs", "3"], "--freeze-epochs 3 is more than --epochs 1"),
    ("phases-disagree", ["--freeze-epochs", "1", "--finetune-epochs", "1"], "do not add up to --epochs 1"),
    ("finetune-lr-0", ["--finetune-lr", "0"], "--finetune-lr must be > 0"),
    ("dropout-1", ["--dropout", "1"], "--dropout must be >= 0 and < 1"),
    ("dropout-negative", ["--dropout", "-0.1"], "--dropout must be >= 0 and < 1"),
    ("dropout-nan", ["--dropout", "nan"], "--dropout must be finite"),
    ("encoder-unknown", ["--encoder", "resnet_nope"], "Unknown encoder 'resnet_nope'"),
    ("encoder-empty", ["--encoder", ""], "Unknown encoder ''"),
    ("seed-negative", ["--seed", "-1"], "--seed must be >= 0"),
    ("device-unknown", ["--device", "gpu7"], "--device must be auto, cpu"),
    ("name-parent", ["--name", "../escape"], "plain folder name"),
    ("name-absolute", ["--name", "/tmp/escape"], "plain folder name"),
    ("data-unknown", ["--data", "nope"], "--data must be digits or one of"),
    ("data-empty-path", ["--data", "folder:"], "--data must be digits or one of"),
    ("data-missing", ["--data", "folder:missing"], "missing does not exist"),
    ("data-file", ["--data", "folder:afile.txt"], "afile.txt is not a folder"),
    ("isbi-missing", ["--data", "isbi:missing"], "missing does not exist"),
    ("pet-missing", ["--data", "oxford-pet:missing"], "missing does not exist"),
    ("weights-missing", ["--weights", "nothere.pth"], "--weights nothere.pth is not a file"),
    ("weights-empty", ["--pretrained", "--weights", "weights.pth"], "weights.pth cannot be read"),
    ("stray-mask-value", ["--data", "folder:stray"], "look like binary 0/255 masks, but some hold other values: "
                                                     "value 7 in 4.png"),
    ("one-image", ["--data", "folder:one"], "has 1 image(s) with masks; training and validation need at least 3"),
    ("gray-pictures", ["--data", "folder:gray-pictures"], "look like gray pictures, not class masks"),
    ("classes-empty", ["--data", "folder:no-classes"], "names 0 class(es)"),
    ("classes-one", ["--data", "folder:one-class"], "names 1 class(es)"),
    ("classes-twice", ["--data", "folder:twice"], "names a twice"),
    ("classes-binary", ["--data", "folder:binary-classes"], "cannot read"),
    ("palette-not-json", ["--data", "folder:palette-json"], "palette.json as JSON"),
    ("palette-no-colours", ["--data", "folder:palette-keys"], "palette.json must be"),
    ("palette-colour-300", ["--data", "folder:palette-colour"], "palette.json must be"),
    ("palette-list", ["--data", "folder:palette-list"], "palette.json must be"),
    ("corrupt-mask", ["--data", "folder:corrupt-mask"], "cannot read mask"),
    ("corrupt-image", ["--data", "folder:corrupt-image"], "cannot read image"),
    ("colour-mask", ["--data", "folder:colour-mask"], "colour masks need a palette.json"),
    ("size-mismatch", ["--data", "folder:mismatch"], "is 32x32 but its mask 0.png is 16x16"),
    ("unpaired", ["--data", "folder:unpaired"], "do not pair up by name"),
    ("no-images", ["--data", "folder:no-images"], "no images in"),
    ("no-masks", ["--data", "folder:no-masks"], "masks does not exist"),
    ("resume-missing", ["--resume", "--name", "never"], "cannot resume"),
    ("resume-other-task", ["--resume", "--name", "other"], "not a segment run"),
]

P = ["segment", "predict"]
PREDICT = [
    ("run-missing", ["missing-run", "img.png"], "missing-run is not a folder"),
    ("run-is-file", ["img.png", "img.png"], "img.png is not a folder"),
    ("run-classify", ["classify-run", "img.png"], "not a segment run"),
    ("run-gan", ["gan-run", "img.png"], "not a segment run"),
    ("run-no-checkpoint", ["nockpt-run", "img.png"], "has no trained model yet"),
    ("run-corrupt-checkpoint", ["corrupt-run", "img.png"], "cannot be read"),
    ("run-empty-checkpoint", ["empty-ckpt-run", "img.png"], "cannot be read"),
    ("run-foreign-weights", ["mismatch-run", "img.png"], "is not a U-Net checkpoint"),
    ("run-config-list", ["list-config-run", "img.png"], "config.json holds a list"),
    ("run-config-edited", ["edited-run", "img.png"], "has a bad value"),
    ("image-missing", ["{run}", "nothere.png"], "nothere.png does not exist"),
    ("image-not-an-image", ["{run}", "fake.png"], "cannot read image fake.png"),
    ("folder-without-images", ["{run}", "empty"], "no image files"),
    ("out-is-a-file", ["{run}", "img.png", "--out", "afile.txt"], "--out afile.txt is a file"),
    ("out-has-outputs", ["{run}", "img.png", "--out", "existing"], "exist already in existing"),
]

V = ["segment", "via-to-masks"]
VIA_OUT = ["--images", "via-images", "--out", "via-out"]
VIA = [  # (id, project (JSON text or object), extra args, expected)
    ("missing", None, [], "does not exist"),
    ("not-json", "{oops", [], "cannot be read as JSON"),
    ("binary", b"\xff\xfe\x00", [], "cannot be read as JSON"),
    ("list", [], [], "not a VIA project or region export"),
    ("string", "\"a.png\"", [], "not a VIA project or region export"),
    ("empty", {}, [], "not a VIA project or region export"),
    ("metadata-list", {"_via_img_metadata": []}, [], "not a VIA project or region export"),
    ("via3", {"project": {}, "file": {}, "metadata": {}}, [], "looks like a VIA 3 project"),
    ("entry-number", {"k": 5}, [], "entry 'k' is not an image entry"),
    ("entry-no-filename", {"k": {"regions": []}}, [], "entry 'k' is not an image entry"),
    ("filename-number", {"k": {"filename": 5, "regions": []}}, [], "entry 'k' is not an image entry"),
    ("filename-parent", entry("../victim.png"), [], "leads outside --images"),
    ("filename-deep-parent", entry("sub/../../victim.png"), [], "leads outside --images"),
    ("filename-absolute", entry("{ws}/victim.png"), [], "leads outside --images"),
    ("filename-symlink-out", entry("link.png"), [], "leads outside --images"),
    ("filename-folder-itself", entry("."), [], "names the --images folder itself"),
    ("filename-null-byte", entry("a\u0000.png"), [], "cannot be used"),
    ("filename-missing", entry("nothere.png"), [], "are not in via-images"),
    ("filename-not-image", entry("notes.txt"), [], "is not an image file cnnlab reads"),
    ("image-corrupt", entry("broken.png"), [], "cannot read image"),
    ("same-stem", {"k1": {"filename": "a.png", "regions": []}, "k2": {"filename": "a.jpg", "regions": []}}, [],
     "would both give masks/a.png"),
    ("regions-string", {"k": {"filename": "a.png", "regions": "x"}}, [], "'regions' must be a list"),
    ("region-number", entry(regions=[5]), [], "region 0 has no 'shape_attributes'"),
    ("shape-missing", entry(regions=[{"region_attributes": {"class": "cat"}}]), [], "has no 'shape_attributes'"),
    ("shape-list", entry(regions=[{"shape_attributes": []}]), [], "has no 'shape_attributes'"),
    ("shape-unknown", entry(regions=[region({"name": "hexagon"})]), [], "unknown VIA region shape 'hexagon'"),
    ("shape-no-name", entry(regions=[region({"x": 1})]), [], "unknown VIA region shape None"),
    ("rect-no-width", entry(regions=[region({"name": "rect", "x": 1, "y": 1, "height": 2})]), [],
     "the rect has no width"),
    ("rect-string", entry(regions=[region({"name": "rect", "x": "1", "y": 1, "width": 2, "height": 2})]), [],
     "x is '1'"),
    ("rect-negative", entry(regions=[region({"name": "rect", "x": 1, "y": 1, "width": -3, "height": 2})]), [],
     "width is -3, below 0"),
    ("rect-bool", entry(regions=[region({"name": "rect", "x": True, "y": 1, "width": 3, "height": 2})]), [],
     "x is True"),
    ("circle-nan", entry(regions=[region({"name": "circle", "cx": 1, "cy": float("nan"), "r": 2})]), [],
     "cy is nan"),
    ("circle-inf", entry(regions=[region({"name": "circle", "cx": 1, "cy": 2, "r": float("inf")})]), [], "r is inf"),
    ("circle-negative", entry(regions=[region({"name": "circle", "cx": 1, "cy": 2, "r": -1})]), [], "below 0"),
    ("ellipse-theta", entry(regions=[region({"name": "ellipse", "cx": 1, "cy": 2, "rx": 1, "ry": 1,
                                            "theta": "x"})]), [], "theta is 'x'"),
    ("point-huge", entry(regions=[region({"name": "point", "cx": 1e300, "cy": 2})]), [], "over 1,000,000 pixels"),
    ("polygon-strings", entry(regions=[region({**POLY, "all_points_x": ["2", "9", "9"]})]), [],
     "all_points_x is '2'"),
    ("polygon-uneven", entry(regions=[region({**POLY, "all_points_y": [1, 1]})]), [], "lists of equal length"),
    ("polygon-not-list", entry(regions=[region({**POLY, "all_points_x": 5})]), [], "lists of equal length"),
    ("polygon-two-points", entry(regions=[region({**POLY, "all_points_x": [1, 2], "all_points_y": [1, 2]})]), [],
     "a polygon with 2 points is empty"),
    ("no-class", entry(regions=[{"shape_attributes": POLY, "region_attributes": {"kind": "cat"}}]), [],
     "has no 'class' class name"),
    ("class-list", entry(regions=[region(POLY, ["cat"])]), [], "has no 'class' class name"),
    ("class-newline", entry(regions=[region(POLY, "cat\nbird")]), [], "line breaks or control characters"),
    ("attributes-string", entry(regions=[{"shape_attributes": POLY, "region_attributes": "cat"}]), [],
     "'region_attributes' must be an object"),
    ("too-many-classes", entry(regions=[region(POLY, f"c{i}") for i in range(300)]), [], "names 300 classes"),
    ("images-missing", entry(), ["--images", "nowhere"], "--images nowhere does not exist"),
    ("out-is-file", entry(), ["--out", "afile.txt"], "--out afile.txt is a file"),
]

C = ["segment", "compare", "--data", "folder:data", "--image-size", "32", "--freeze-epochs", "1",
     "--finetune-epochs", "1",
     "--batch-size", "4", "--runs-dir", "bad-runs", "--no-augment"]
COMPARE = [
    ("epochs-negative", ["--freeze-epochs", "-1"], "--freeze-epochs must be >= 0"),
    ("finetune-negative", ["--finetune-epochs", "-1"], "--finetune-epochs must be >= 0"),
    ("image-size-33", ["--image-size", "33"], "multiple of 32"),
    ("batch-1", ["--batch-size", "1"], "--batch-size must be >= 2"),
    ("name-parent", ["--name", "../x"], "plain folder name"),
    ("encoder-unknown", ["--encoder", "nope"], "Unknown encoder"),
    ("data-unknown", ["--data", "nope"], "--data must be digits"),
    ("seed-negative", ["--seed", "-1"], "--seed must be >= 0"),
    ("out-is-folder", ["--out", "empty"], "--out empty is a folder"),
]

CASES = ([pytest.param(T + args, expected, id=f"train-{i}") for i, args, expected in TRAIN]
         + [pytest.param(P + args, expected, id=f"predict-{i}") for i, args, expected in PREDICT]
         + [pytest.param(("via", i, project, extra), expected, id=f"via-{i}") for i, project, extra, expected in VIA]
         + [pytest.param(C + args, expected, id=f"compare-{i}") for i, args, expected in COMPARE])


@pytest.mark.parametrize(("args", "expected"), CASES)
def test_bad_input_is_a_clear_error(ws, capsys, monkeypatch, args, expected):
    monkeypatch.chdir(ws)
    if args[0] == "via":
        _, name, project, extra = args
        if project is None:
            path = "via/absent.json"
        elif isinstance(project, bytes):
            path = via(ws, name, "")
            (ws / path).write_bytes(project)
        else:
            text = project if isinstance(project, str) else json.dumps(project).replace("{ws}", str(ws))
            path = via(ws, name, text)
        args = [*V, path, *VIA_OUT, *extra]
    args = [a.replace("{run}", str(ws / "runs" / "segment" / "seg")) for a in args]
    code, out = cnnlab(capsys, *args)
    assert code == 2 and "Traceback" not in out and "internal error" not in out, out
    assert expected in out, out
    if "Invalid value" not in expected:  # a value click itself refuses gets click's usage message
        assert "error:" in out, out
    assert not (ws / "via-out").exists()  # nothing written on a refused project
    assert (ws / "existing" / "img_mask.png").read_text() == "someone's file"
    assert not list((ws / "bad-runs" / "segment").glob("unet-*"))  # no run folder left behind


def test_the_real_command_prints_the_error_without_a_traceback(ws):
    project = via(ws, "escape", entry("../victim.png", [region(POLY)]))
    before = (ws / "victim.png").read_bytes()
    done = run_cli(*V, project, "--images", "via-images", "--out", "via-out", cwd=ws)
    said = done.stdout + done.stderr
    assert done.returncode == 2 and "Traceback" not in said and "internal error" not in said, said
    assert "leads outside --images" in " ".join(done.stdout.split())
    assert (ws / "victim.png").read_bytes() == before and not (ws / "via-out").exists()
