"""What each robustness fix of segment guarantees: VIA paths stay inside their folders, masks keep their
indices and never invent classes, images are read as a person sees them, predictions never overwrite."""

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab.errors import ConfigError, DataError, RunFolderError
from cnnlab.segment.augment import JointAugment
from cnnlab.segment.data import MaskData, read_mask_folder
from cnnlab.segment.predict import output_stems, predict_images
from cnnlab.segment.training import SegmentConfig, split, train_unet
from cnnlab.segment.via import via_to_masks

ORIENTATION = 0x0112  # EXIF tag; 6 = stored rotated, shown turned 90 degrees clockwise


def exif(orientation: int) -> Image.Exif:
    tags = Image.Exif()
    tags[ORIENTATION] = orientation
    return tags


def project(path, entries):
    path.write_text(json.dumps({"_via_img_metadata": {f"k{i}": e for i, e in enumerate(entries)}}))
    return path


def rect(x, y, w, h, cls="cat"):
    return {"shape_attributes": {"name": "rect", "x": x, "y": y, "width": w, "height": h},
            "region_attributes": {"class": cls}}


@pytest.mark.parametrize("filename", ["../victim.png", "../../outside/victim.png", "{abs}", "link.png",
                                      "sub/../../victim.png"])
def test_via_reads_and_writes_only_inside_its_folders(tmp_path, filename):
    images, out = tmp_path / "work" / "images", tmp_path / "work" / "out" / "deep"
    images.mkdir(parents=True)
    (images / "sub").mkdir()
    Image.new("RGB", (10, 8), (1, 2, 3)).save(images / "ok.png")
    (tmp_path / "outside").mkdir()
    victim = tmp_path / "work" / "victim.png"
    Image.new("RGB", (10, 8), (200, 0, 0)).save(victim)
    Image.new("RGB", (10, 8), (0, 200, 0)).save(tmp_path / "outside" / "victim.png")
    (images / "link.png").symlink_to(victim)
    before = {p: p.read_bytes() for p in (victim, tmp_path / "outside" / "victim.png")}
    name = filename.replace("{abs}", str(victim))
    path = project(tmp_path / "p.json", [{"filename": "ok.png", "regions": []},
                                         {"filename": name, "regions": [rect(1, 1, 3, 3)]}])
    files = sorted(tmp_path.rglob("*"))
    with pytest.raises(DataError, match=r"entry 'k1' .* leads outside --images"):
        via_to_masks(path, images, out)
    assert {p: p.read_bytes() for p in before} == before
    assert sorted(tmp_path.rglob("*")) == files  # the whole project is checked before anything is written


def test_via_subfolders_exif_and_the_background_class(tmp_path):
    images = tmp_path / "images"
    (images / "sub").mkdir(parents=True)
    # Stored 12 wide and 8 high, shown (by VIA, by browsers, by cnnlab) 8 wide and 12 high.
    Image.new("RGB", (12, 8), (90, 90, 90)).save(images / "sub" / "b.jpg", exif=exif(6))
    Image.new("RGB", (8, 12), (90, 90, 90)).save(images / "a.png")
    path = project(tmp_path / "p.json", [
        {"filename": "a.png", "regions": [rect(0, 0, 8, 2, "background"), rect(0, 6, 8, 6, "dog")]},
        {"filename": "sub/b.jpg", "regions": [rect(0, 0, 4, 12, "cat")]}])
    out = via_to_masks(path, images, tmp_path / "out")
    assert (out / "classes.txt").read_text().split() == ["background", "cat", "dog"]  # background once, as 0
    assert sorted(p.name for p in (out / "images").iterdir()) == ["a.png", "sub__b.jpg"]
    mask = np.asarray(Image.open(out / "masks" / "sub__b.png"))
    assert mask.shape == (12, 8) and (mask[:, :4] == 1).all() and (mask[:, 4:] == 0).all()  # drawn upright
    assert np.unique(np.asarray(Image.open(out / "masks" / "a.png"))).tolist() == [0, 2]
    data = read_mask_folder(out, 32)  # the image is read upright too, so the two pair up
    assert data.classes == ["background", "cat", "dog"] and len(data) == 2


def masks_folder(root, masks, classes=None):
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i, mask in enumerate(masks):
        Image.new("L", mask.size if isinstance(mask, Image.Image) else mask.shape[::-1], 100).save(
            root / "images" / f"{i}.png")
        (mask if isinstance(mask, Image.Image) else Image.fromarray(mask)).save(root / "masks" / f"{i}.png")
    if classes:
        (root / "classes.txt").write_text("\n".join(classes) + "\n")
    return root


def binary(value=255):
    mask = np.zeros((16, 16), np.uint8)
    mask[4:12, 4:12] = value
    return mask


def test_a_stray_mask_value_is_named_never_a_class(tmp_path):
    masks = [binary() for _ in range(6)]
    masks[2][0, 0] = 7
    masks[5][0, 1] = 7
    masks[5][0, 2] = 9
    with pytest.raises(DataError) as caught:
        read_mask_folder(masks_folder(tmp_path / "a", masks), 16)
    message = str(caught.value)
    assert "look like binary 0/255 masks" in message
    assert "value 7 in 2.png, 5.png; value 9 in 5.png" in message and "classes.txt" in message
    # Index masks with one value past a gap: the stray value is named, not made into classes 3..40.
    masks = [np.full((16, 16), i % 3, np.uint8) for i in range(6)]
    masks[4][3, 3] = 40
    with pytest.raises(DataError, match=r"look like class indices 0 to 2, but .*value 40 in 4\.png"):
        read_mask_folder(masks_folder(tmp_path / "b", masks), 16)
    # 0/255 masks with two class names are binary; indices 1..3 (as Pet trimaps) are classes 0..3.
    data = read_mask_folder(masks_folder(tmp_path / "c", [binary()] * 2, ["background", "thing"]), 16)
    assert data.classes == ["background", "thing"] and data.masks.unique().tolist() == [0, 1]
    data = read_mask_folder(masks_folder(tmp_path / "d", [np.full((16, 16), v, np.uint8) for v in (1, 2, 3)]), 16)
    assert data.classes == ["0", "1", "2", "3"]


def test_masks_keep_their_indices_in_every_format(tmp_path):
    palette = Image.new("P", (16, 16), 0)
    palette.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    palette.paste(2, (0, 0, 8, 16))  # index 2 (drawn green): a palette mask is read by index, not colour
    wide = Image.fromarray(np.where(binary(1) > 0, 1, 0).astype(np.uint16))  # 16-bit PNG with indices 0/1
    gray_rgb = Image.fromarray(np.repeat(binary(1)[..., None], 3, 2))  # RGB, but R = G = B: indices
    one_bit = Image.fromarray(binary(1) > 0)  # mode '1': black 0, white 1
    root = masks_folder(tmp_path / "m", [palette, wide, gray_rgb, one_bit], ["a", "b", "c"])
    assert wide.mode == "I;16" and Image.open(root / "masks" / "1.png").mode == "I;16"
    data = read_mask_folder(root, 16)
    assert data.masks[0, :, :8].unique().tolist() == [2] and data.masks[0, :, 8:].unique().tolist() == [0]
    for i in (1, 2, 3):
        assert np.array_equal(data.masks[i].numpy(), binary(1).astype(np.int64)), i
    # A 16-bit value beyond 255 stays itself (Pillow's convert would clip it to 255 and hide it).
    big = Image.fromarray(np.where(binary(1) > 0, 1000, 0).astype(np.uint16))
    with pytest.raises(DataError, match="value 1000 in 0.png"):
        read_mask_folder(masks_folder(tmp_path / "big", [big], ["a", "b"]), 16)
    colour = np.zeros((16, 16, 3), np.uint8)
    colour[4:, :] = (255, 0, 0)  # a colour mask read as gray would become class 76
    with pytest.raises(DataError, match="colour masks need a palette.json"):
        read_mask_folder(masks_folder(tmp_path / "colour", [Image.fromarray(colour)] * 3), 16)


def test_images_are_read_as_a_person_sees_them_and_masks_turn_with_them(tmp_path):
    root = tmp_path / "f"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    ramp = (np.arange(16 * 16).reshape(16, 16) * 257).astype(np.uint16)  # 16-bit: 0 .. 65535
    Image.fromarray(ramp).save(root / "images" / "wide.png")
    rgba = Image.new("RGBA", (16, 16), (255, 0, 0, 0))  # fully transparent: white, as a viewer shows it
    rgba.save(root / "images" / "rgba.png")
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(root / "images" / "cmyk.jpg")
    pal = Image.new("P", (16, 16), 1)
    pal.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    pal.save(root / "images" / "pal.png")
    stored = Image.new("L", (16, 8), 0)
    stored.paste(255, (0, 0, 16, 4))  # the top half of the stored picture is white
    stored.convert("RGB").save(root / "images" / "turned.jpg", exif=exif(6))
    turned_mask = Image.fromarray(np.asarray(stored) // 255)  # the mask as stored, with the same EXIF
    turned_mask.save(root / "masks" / "turned.png", exif=exif(6))
    for stem in ("wide", "rgba", "cmyk", "pal"):
        Image.fromarray(binary(1)).save(root / "masks" / f"{stem}.png")
    data = read_mask_folder(root, 16)
    by_name = {os.path.basename(p).split(".")[0]: i for i, p in enumerate(data.paths)}
    x = data.images.float()
    assert x[by_name["wide"]].mean() == pytest.approx(127.5, abs=1)  # scaled, not clipped to white
    assert (x[by_name["rgba"]] == 255).all()
    assert x[by_name["cmyk"], 0].mean() > 200 and x[by_name["cmyk"], 1].mean() < 40  # red, not inverted
    assert x[by_name["pal"], 2].mean() == 255 and x[by_name["pal"], 0].mean() == 0  # the palette's blue
    turned, mask = x[by_name["turned"], 0], data.masks[by_name["turned"]]
    assert turned[:, 12:].mean() > 200 and turned[:, :4].mean() < 50  # upright: white on the right side
    assert (mask[:, 12:] == 1).all() and (mask[:, :4] == 0).all()  # and the mask turned with it


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("seg-run")
    masks_folder(root / "data", [binary() for _ in range(4)])
    train_unet(SegmentConfig(data=f"folder:{root / 'data'}", image_size=32, freeze_epochs=1, batch_size=4,
                             pretrained=False,
                             device="cpu", runs_dir=str(root / "runs"), name="r"))
    return root / "runs" / "segment" / "r"


def test_predictions_never_overwrite_each_other_or_other_files(run, tmp_path):
    for folder, size in (("a", (20, 10)), ("b", (30, 15)), ("c", (40, 20))):
        (tmp_path / folder).mkdir()
        Image.new("RGB", size, (9, 9, 9)).save(tmp_path / folder / ("X.png" if folder == "c" else "x.png"))
    images = [str(tmp_path / "a" / "x.png"), str(tmp_path / "b" / "x.png"), str(tmp_path / "c"),
              str(tmp_path / "a" / "x.png")]  # a/x.png twice: predicted once
    out = tmp_path / "out"
    results = predict_images(run, images, out)
    assert [os.path.basename(r["mask"]) for r in results] == ["x_mask.png", "x-2_mask.png", "X-3_mask.png"]
    assert [Image.open(r["mask"]).size for r in results] == [(20, 10), (30, 15), (40, 20)]
    assert len(list(out.iterdir())) == 6
    with pytest.raises(DataError, match="exist already"):
        predict_images(run, images, out)
    (out / "x_mask.png").unlink()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    (out / "x_mask.png").symlink_to(victim)  # --overwrite replaces the link, never writes through it
    predict_images(run, images, out, overwrite=True)
    assert victim.read_text() == "keep" and not (out / "x_mask.png").is_symlink()
    assert output_stems([tmp_path / "x.png", tmp_path / "x.png", tmp_path / "x-2.png"]) == ["x", "x-2", "x-2-2"]


def test_predict_refuses_run_folders_of_another_shape(run, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"data": {"name": "digits"}, "model": "lenet5", "fit": {}}))
    with pytest.raises(RunFolderError, match="not a segment run"):
        predict_images(other, [str(tmp_path)], tmp_path / "out")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("image_size", 48, "multiple of 32"), ("image_size", 16, ">= 32"), ("image_size", 64.0, "whole number"),
    ("freeze_epochs", -1, ">= 0"), ("finetune_epochs", True, "whole number"), ("freeze_lr", float("nan"), "finite"),
    ("finetune_lr", 0, "> 0"), ("dropout", 1.0, "< 1"), ("val_fraction", 0.0, "> 0"), ("val_fraction", 1, "< 1"),
    ("batch_size", 1, ">= 2"), ("seed", -3, ">= 0"), ("device", "tpu", "--device"), ("name", "a/b", "plain folder"),
    ("data", "folder:", "--data"), ("data", "voc:x", "--data"), ("encoder", "nope_net", "Unknown encoder"),
    ("pretrained", "yes", "true or false"), ("augment", {}, "JointAugment"), ("runs_dir", "", "--runs-dir"),
])
def test_segment_config_refuses_bad_values(field, value, message):
    with pytest.raises(Exception, match=message) as caught:
        SegmentConfig(**{field: value})
    assert isinstance(caught.value, ConfigError) or "encoder" in message


@pytest.mark.parametrize(("field", "value"), [("rotation", -1), ("rotation", 200), ("zoom", 1.0), ("shift", -0.1),
                                              ("hflip", 1), ("zoom", float("inf"))])
def test_joint_augment_refuses_bad_values(field, value):
    with pytest.raises(ConfigError):
        JointAugment(**{field: value})


@pytest.mark.parametrize("stored", [
    [], "text", {}, {"data": {"name": "digits"}, "model": "lenet5", "fit": {}, "augment": {}},
    {"data": "digits", "generator": "transposed", "latent_dim": 8, "image_size": 32, "channels": 1, "width": 1.0,
     "epochs": 1, "augment": {}},
    {**SegmentConfig(image_size=32).to_dict(), "freeze_epochs": "ten"},
    {**SegmentConfig(image_size=32).to_dict(), "augment": [1]},
    {**SegmentConfig(image_size=32).to_dict(), "augment": {"spin": 3}},
])
def test_config_json_of_another_shape_is_not_a_segment_run(stored):
    with pytest.raises(RunFolderError, match="segment run"):
        SegmentConfig.from_dict(stored)
    assert SegmentConfig.from_dict(SegmentConfig(image_size=32).to_dict()) == SegmentConfig(image_size=32)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_a_small_set_keeps_two_images_to_train_on(fraction):
    data = MaskData(torch.zeros(3, 1, 4, 4, dtype=torch.uint8), torch.zeros(3, 4, 4, dtype=torch.long), ["a", "b"],
                    ["x", "y", "z"])
    train, val = split(data, fraction, seed=0)
    assert (len(train), len(val)) == (2, 1)


def test_a_second_project_never_mixes_with_an_earlier_conversion(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for name in ("a.png", "b.png"):
        Image.new("RGB", (8, 8)).save(images / name)
    first = project(tmp_path / "one.json", [{"filename": "a.png", "regions": [rect(0, 0, 4, 4, "cat")]},
                                            {"filename": "b.png", "regions": [rect(0, 0, 4, 4, "dog")]}])
    second = project(tmp_path / "two.json", [{"filename": "a.png", "regions": [rect(0, 0, 2, 2, "bird")]}])
    out = via_to_masks(first, images, tmp_path / "out")
    before = {p.name: p.read_bytes() for p in (out / "masks").iterdir()}
    with pytest.raises(DataError, match="would mix"):
        via_to_masks(second, images, out)
    assert {p.name: p.read_bytes() for p in (out / "masks").iterdir()} == before
    via_to_masks(second, images, out, overwrite=True)
    assert sorted(p.name for p in (out / "masks").iterdir()) == ["a.png"]
    assert (out / "classes.txt").read_text().split() == ["background", "bird"]
    (tmp_path / "dangling").mkdir()
    (tmp_path / "dangling" / "masks").symlink_to(tmp_path / "nowhere")
    with pytest.raises(DataError, match="would mix"):
        via_to_masks(first, images, tmp_path / "dangling")
    with pytest.raises(DataError, match="symbolic link"):
        via_to_masks(first, images, tmp_path / "dangling", overwrite=True)
