import json

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab.errors import DataError, ModelError, UnknownNameError
from cnnlab.segment.augment import JointAugment, joint_augment
from cnnlab.segment.data import read_isbi, read_mask_folder
from cnnlab.segment.metrics import confusion, scores
from cnnlab.segment.model import create_unet
from cnnlab.segment.predict import predict_images
from cnnlab.segment.training import SegmentConfig, train_unet
from cnnlab.segment.via import via_to_masks
from tests.conftest import shared_path


@pytest.mark.parametrize("encoder", ["efficientnet_lite0", "mobilenetv2_100", "resnet18"])
@pytest.mark.parametrize("size", [64, 96])
def test_output_has_the_input_size(encoder, size):
    model = create_unet(encoder, 3, image_size=size, pretrained=False, dropout=0.5)
    assert model(torch.rand(2, 3, size, size)).shape == (2, 3, size, size)


def test_bad_sizes_and_names():
    with pytest.raises(ModelError, match="use 128"):
        create_unet("resnet18", 2, image_size=100, pretrained=False)
    model = create_unet("resnet18", 2, image_size=64, pretrained=False)
    with pytest.raises(ModelError, match="--image-size 96"):
        model(torch.rand(1, 3, 70, 70))
    with pytest.raises(UnknownNameError, match="encoder"):
        create_unet("resnet_nope", 2, pretrained=False)


def via_project(tmp_path, regions):
    (tmp_path / "imgs").mkdir()
    Image.new("RGB", (10, 8), (90, 90, 90)).save(tmp_path / "imgs" / "a.png")
    project = {"_via_img_metadata": {"a.png123": {"filename": "a.png", "size": 123, "regions": regions}}}
    path = tmp_path / "project.json"
    path.write_text(json.dumps(project))
    return path


def test_via_polygon_becomes_the_right_pixels(tmp_path):
    regions = [{"shape_attributes": {"name": "polygon", "all_points_x": [2, 6, 6, 2], "all_points_y": [1, 1, 4, 4]},
                "region_attributes": {"class": "cat"}},
               {"shape_attributes": {"name": "rect", "x": 7, "y": 5, "width": 2, "height": 2},
                "region_attributes": {"class": "box"}}]
    out = via_to_masks(via_project(tmp_path, regions), tmp_path / "imgs", tmp_path / "out")
    mask = np.asarray(Image.open(out / "masks" / "a.png"))
    expected = np.zeros((8, 10), np.uint8)
    expected[1:5, 2:7] = 2  # classes: background, box, cat (sorted); the polygon's edges are inside
    expected[5:7, 7:9] = 1
    assert np.array_equal(mask, expected)
    assert (out / "classes.txt").read_text().split() == ["background", "box", "cat"]
    data = read_mask_folder(out, 32)
    assert data.classes == ["background", "box", "cat"] and data.masks.shape == (1, 32, 32)


def test_via_errors(tmp_path):
    empty = [{"shape_attributes": {"name": "polygon", "all_points_x": [1, 2], "all_points_y": [1, 2]},
              "region_attributes": {"class": "cat"}}]
    with pytest.raises(DataError, match="polygon with 2 points is empty"):
        via_to_masks(via_project(tmp_path, empty), tmp_path / "imgs", tmp_path / "out")
    (tmp_path / "project.json").write_text(json.dumps({"k": {"filename": "b.png", "regions": []}}))
    with pytest.raises(DataError, match="not in .*b.png"):
        via_to_masks(tmp_path / "project.json", tmp_path / "imgs", tmp_path / "out")


def write_pairs(root, masks, size=(16, 16)):
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i, m in enumerate(masks):
        Image.new("L", size, 100).save(root / "images" / f"{i}.png")
        Image.fromarray(m.astype(np.uint8)).save(root / "masks" / f"{i}.png")


def test_mask_values_outside_the_classes_are_named(tmp_path):
    good, bad = np.zeros((16, 16)), np.zeros((16, 16))
    bad[3, 3] = 5
    write_pairs(tmp_path, [good, bad])
    (tmp_path / "classes.txt").write_text("background\nthing\n")
    with pytest.raises(DataError, match=r"value 5 in 1\.png"):
        read_mask_folder(tmp_path, 16)


def test_size_and_count_mismatches(tmp_path):
    write_pairs(tmp_path / "a", [np.zeros((16, 16))])
    Image.new("L", (8, 8)).save(tmp_path / "a" / "masks" / "0.png")
    with pytest.raises(DataError, match="16x16 but its mask 0.png is 8x8"):
        read_mask_folder(tmp_path / "a", 16)
    write_pairs(tmp_path / "b", [np.zeros((16, 16))])
    Image.new("L", (16, 16)).save(tmp_path / "b" / "images" / "extra.png")
    with pytest.raises(DataError, match="do not pair up.*extra"):
        read_mask_folder(tmp_path / "b", 16)


def test_joint_augmentation_keeps_image_and_mask_aligned():
    g = torch.Generator().manual_seed(0)
    mask = (torch.rand(8, 32, 32, generator=g) > 0.98).long()  # sparse seeds, grown into 5x5 blobs below
    mask = torch.nn.functional.max_pool2d(mask[:, None].float(), 5, 1, 2)[:, 0].long()  # blobs, not noise
    image = mask[:, None].float().expand(-1, 3, -1, -1).clone()
    x, m = joint_augment(image, mask, JointAugment(hflip=True, vflip=True, rotation=20, zoom=0.2, shift=0.2), g)
    assert 0.2 < mask.float().mean() < 0.6
    assert x.shape == image.shape and m.shape == mask.shape and not torch.equal(m, mask)
    agree = ((x[:, 0] > 0.5).long() == m).float().mean()
    assert agree > 0.97, agree  # only pixels on blob edges may differ (bilinear vs nearest)


def test_metrics_on_a_known_confusion():
    pred = torch.tensor([0, 0, 1, 1, 1, 2])
    true = torch.tensor([0, 1, 1, 1, 2, 2])
    s = scores(confusion(pred, true, 3))
    assert s["pixel_acc"] == pytest.approx(4 / 6)
    assert s["iou"] == pytest.approx([1 / 2, 2 / 4, 1 / 2])
    assert s["dice"] == pytest.approx(np.mean([2 / 3, 4 / 6, 2 / 3]))


def test_training_beats_the_majority_baseline_and_predicts_at_original_size(tmp_path):
    cfg = SegmentConfig(data="digits", image_size=32, freeze_epochs=3, batch_size=32, runs_dir=str(tmp_path), name="d")
    summary = train_unet(cfg)
    background = 0.7  # digit strokes cover under a third of the pixels
    assert summary["val_miou"] > background / 2 + 0.3  # predicting all background gives mIoU <= 0.35
    assert (tmp_path / "segment/d/epochs/epoch_003.png").is_file() and (tmp_path / "segment/d/report.html").is_file()
    Image.new("RGB", (45, 30), (10, 10, 10)).save(tmp_path / "new.png")
    [result] = predict_images(tmp_path / "segment/d", [str(tmp_path / "new.png")], tmp_path / "pred")
    assert Image.open(result["mask"]).size == (45, 30) and Image.open(result["overlay"]).size == (45, 30)


@pytest.mark.shared
def test_isbi_membranes_are_read_as_binary():
    data = read_isbi(shared_path("isbi-membrane"), 128)
    assert len(data) == 30 and data.classes == ["membrane", "cell"]
    assert data.images.shape == (30, 1, 128, 128) and set(data.masks.unique().tolist()) == {0, 1}


def test_segmentation_resume_equals_uninterrupted(tmp_path):
    def stop_after_one(epoch, record):
        if epoch == 1:
            raise KeyboardInterrupt

    def cfg(root):
        return SegmentConfig(data="digits", image_size=32, freeze_epochs=1, finetune_epochs=1, batch_size=64,
                             runs_dir=str(root), name="r")

    full = train_unet(cfg(tmp_path / "a"))
    assert train_unet(cfg(tmp_path / "b"), callbacks=(stop_after_one,)) == {"status": "interrupted"}
    resumed = train_unet(cfg(tmp_path / "b"), resume=True)
    assert resumed["val_miou"] == pytest.approx(full["val_miou"]) and resumed["phases"] == ["frozen", "finetune"]


def test_oxford_pet_trimaps_and_palette_masks(tmp_path):
    from cnnlab.segment.data import read_oxford_pet

    (tmp_path / "pet/images").mkdir(parents=True)
    (tmp_path / "pet/annotations/trimaps").mkdir(parents=True)
    trimap = np.ones((12, 12), np.uint8)
    trimap[:, 6:] = 2
    trimap[0] = 3
    Image.new("RGB", (12, 12), (1, 2, 3)).save(tmp_path / "pet/images/cat_1.jpg")
    Image.fromarray(trimap).save(tmp_path / "pet/annotations/trimaps/cat_1.png")
    data = read_oxford_pet(tmp_path / "pet", 12)
    assert data.classes == ["pet", "background", "border"]
    assert np.array_equal(data.masks[0].numpy(), trimap.astype(np.int64) - 1)

    root = tmp_path / "colours"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    colour = np.zeros((8, 8, 3), np.uint8)
    colour[4:] = (255, 0, 0)
    Image.new("RGB", (8, 8)).save(root / "images/a.png")
    Image.fromarray(colour).save(root / "masks/a.png")
    (root / "palette.json").write_text(json.dumps({"classes": ["bg", "red"], "colors": [[0, 0, 0], [255, 0, 0]]}))
    masks = read_mask_folder(root, 8).masks[0]
    assert masks[:4].sum() == 0 and (masks[4:] == 1).all()
    colour[0, 0] = (0, 255, 0)
    Image.fromarray(colour).save(root / "masks/a.png")
    with pytest.raises(DataError, match="colours not in the palette"):
        read_mask_folder(root, 8)


@pytest.mark.shared
def test_segment_trains_on_the_oxford_pet_files_as_they_are(tmp_path, capsys):
    """The lab's own data in its original layout, quirks included (a GIF and an RGBA PNG named .jpg, stray .mat
    files): every one of the 600 photos is read, and two frozen epochs beat calling every pixel background."""
    from tests.cli import cnnlab

    pet = shared_path("oxford-pet-3breeds")
    code, out = cnnlab(capsys, "segment", "train", "--data", f"oxford-pet:{pet}", "--image-size", "64", "--epochs", "2",
                       "--batch-size", "32", "--runs-dir", tmp_path, "--name", "pet")
    assert code == 0, out
    run = tmp_path / "segment" / "pet"
    assert "480 train / 120 val images, classes ['pet', 'background', 'border']" in (run / "log.txt").read_text()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["val_pixel_acc"] > 0.58 + 0.03 and summary["val_miou"] > 0.3  # background is 58% of the pixels


def test_evaluate_gives_the_numbers_training_reported_and_judges_other_data(capsys, tmp_path):
    from tests.cli import cnnlab

    code, out = cnnlab(capsys, "segment", "train", "--image-size", "32", "--no-pretrained", "--epochs", "2",
                       "--batch-size", "32", "--device", "cpu", "--runs-dir", tmp_path, "--name", "ev",
                       "--precision", "bf16", "--channels-last", "on")  # evaluate runs the model the same way
    assert code == 0, out
    run = tmp_path / "segment/ev"
    summary = json.loads((run / "summary.json").read_text())
    code, out = cnnlab(capsys, "segment", "evaluate", run, "--out", tmp_path / "ev.json")
    assert code == 0 and "mIoU" in out, out
    result = json.loads((tmp_path / "ev.json").read_text())
    assert result["judged"] == "val" and result["miou"] == pytest.approx(summary["val_miou"], abs=1e-6)
    assert set(result["iou"]) == {"background", "stroke"}
    code, out = cnnlab(capsys, "segment", "evaluate", run, "--data", "digits")
    assert code == 0 and "digits (600 images)" in out, out
    code, out = cnnlab(capsys, "segment", "evaluate", run, "--split", "train", "--out", tmp_path / "train.json")
    judged = json.loads((tmp_path / "train.json").read_text())
    assert code == 0 and judged["judged"] == "train" and judged["count"] > result["count"], out
    code, out = cnnlab(capsys, "segment", "evaluate", run, "--split", "val", "--data", "digits")
    assert code == 2 and "give one of them" in out, out
    code, out = cnnlab(capsys, "segment", "evaluate", run, "--split", "test")
    assert code == 2 and "val" in out and "train" in out, out  # segment runs hold no test split
    code, out = cnnlab(capsys, "segment", "evaluate", tmp_path / "nowhere")
    assert code != 0 and "Traceback" not in out
