"""`cnnlab data audit --task segment|localize` on small real images: a planted stray mask value, a mask of the
wrong size, a file without a partner, bad and doubled boxes and an image without boxes are each reported, all at
once, where training stops at the first; leakage is found across the split training would make."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from cnnlab.data.audit import audit
from cnnlab.data.boxes import read_boxes
from cnnlab.errors import DataError
from tests.cli import cnnlab
from tests.conftest import SHARED, digit_masks


@pytest.fixture
def mask_folder(tmp_path, digits):
    """images/ and masks/ of 24 real digits at 32 px: the strokes as 255 on 0 (binary masks)."""
    return digit_masks(tmp_path / "strokes", digits[0], 24, lambda x: (x > 127) * 255)


def test_a_mask_census_names_stray_values_wrong_sizes_and_lonely_files(mask_folder, tmp_path, capsys):
    clean = audit(f"folder:{mask_folder}", None, tmp_path / "clean", task="segment")
    m = clean["masks"]
    assert m["reading"] == "no classes.txt: binary 0/255 masks" and m["strays"] == [] and not m["unpaired"]
    assert m["one_class_masks"] == []
    assert [c["value"] for c in m["classes"]] == ["0", "255"] and abs(sum(c["share"] for c in m["classes"]) - 1) < 1e-3
    assert clean["splits"] == {"train": 19, "val": 5, "test": 0}  # segment train's split: a fifth held out
    # plant: an anti-aliased edge (value 128) in one mask, a mask at another size, an image without a mask, a copy
    mask = np.asarray(Image.open(mask_folder / "masks/d03.png")).copy()
    mask[0, :4] = 128
    Image.fromarray(mask).save(mask_folder / "masks/d03.png")
    Image.open(mask_folder / "masks/d05.png").resize((16, 16), Image.NEAREST).save(mask_folder / "masks/d05.png")
    Image.open(mask_folder / "images/d07.png").save(mask_folder / "images/lonely.png")
    for i in range(24):
        shutil.copyfile(mask_folder / "images/d00.png", mask_folder / "images" / f"copy{i}.png")
        shutil.copyfile(mask_folder / "masks/d00.png", mask_folder / "masks" / f"copy{i}.png")
    found = audit(f"folder:{mask_folder}", None, tmp_path / "planted", task="segment")["masks"]
    assert [(s["value"], s["pixels"], s["files"]) for s in found["strays"]] == [("128", 4, ["d03.png"])]
    assert [(x["mask"], x["mask_size"]) for x in found["size_mismatches"]] == [("d05.png", "16x16")]
    assert found["unpaired"] == ["lonely.png (no mask)"]
    code, out = cnnlab(capsys, "data", "audit", "--task", "segment", "--data", f"folder:{mask_folder}", "--out",
                       str(tmp_path / "cli"), "--fail-on", "annotations,leakage")
    assert code == 1 and "annotations: 3 problems" in out and "leakage" in out  # 24 copies of one image cross
    report = (tmp_path / "cli/report.html").read_text()
    assert "Stray mask values" in report and "d03.png" in report
    assert (tmp_path / "cli/mask_classes.png").stat().st_size > 1000


def test_every_bad_box_is_listed_where_training_stops_at_the_first(tmp_path, digits, capsys):
    images, labels = digits
    root = tmp_path / "boxes"
    root.mkdir()
    rows = ["filename,width,height,class,xmin,ymin,xmax,ymax"]
    for i in range(20):
        Image.fromarray(images[i]).resize((48, 48), Image.BICUBIC).convert("RGB").save(root / f"d{i:02d}.png")
        rows.append(f"d{i:02d}.png,48,48,digit{labels[i]},4,4,40,44")
    rows += ["d01.png,48,48,digit1,30,30,60,60",  # outside the 48x48 image
             "d02.png,48,48,digit2,20,4,10,40",  # inverted
             "d03.png,48,48,digit3,4,4,40,44"]  # d03's box again
    (root / "boxes.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match="outside"):
        read_boxes(f"csv:{root / 'boxes.csv'}")  # what training does: the first bad box ends the read
    found = audit(f"csv:{root / 'boxes.csv'}", None, tmp_path / "out", task="localize")
    b = found["boxes"]
    assert b["bad_box_kinds"] == {"outside": 1, "inverted": 1} and b["bad_box_count"] == 2
    assert [d["image"] for d in b["doubled_boxes"]] == ["d03.png"] and b["doubled_box_count"] == 1
    assert b["images"] == 20 and b["boxes"] == 21 and b["per_image"] == {"1": 19, "2": 1}
    assert b["areas"]["medium"] == 21 and 0.6 < b["relative_side"]["median"] < 0.9
    assert sum(found["splits"].values()) == 20 and found["splits"]["test"] == 3  # localize's 15% / 15%
    code, out = cnnlab(capsys, "data", "audit", "--task", "localize", "--data", f"csv:{root / 'boxes.csv'}",
                       "--out", str(tmp_path / "cli"), "--fail-on", "annotations")
    assert code == 1 and "annotations: 3 problems" in out
    assert "Bad boxes" in (tmp_path / "cli/report.html").read_text()


def test_a_task_and_data_that_do_not_go_together_are_refused_before_any_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for args, words in ((["--data", "voc:somewhere"], "--task localize"),
                        (["--data", "isbi:somewhere"], "--task segment"),
                        (["--task", "segment", "--data", "digits"], "drawn by cnnlab"),
                        (["--task", "localize", "--data", "digits"], "drawn by cnnlab"),
                        (["--task", "detect", "--data", "digits"], "--task takes one of"),
                        (["--task", "segment", "--data", "isbi:nowhere"], "does not exist")):
        code, out = cnnlab(capsys, "data", "audit", *args)
        assert code != 0 and words in out, (args, out)
    assert not (tmp_path / "runs").exists()


@pytest.mark.skipif(not (SHARED / "oxford-pet-3breeds").is_dir(), reason="../shared/data/oxford-pet-3breeds absent")
def test_the_pet_trimaps_and_boxes_audit_cleanly(tmp_path):
    pet = SHARED / "oxford-pet-3breeds"
    masks = audit(f"oxford-pet:{pet}", None, tmp_path / "m", task="segment")
    assert [c["class"] for c in masks["masks"]["classes"]] == ["pet", "background", "border"]
    assert masks["masks"]["strays"] == [] and masks["images"] == 600
    assert masks["masks"]["one_class_masks"] == ["Abyssinian_34.png"]  # the GIF: its trimap is all background
    boxes = audit(f"oxford-pet:{pet}", None, tmp_path / "b", task="localize")
    assert boxes["boxes"]["bad_box_count"] == 0 and set(boxes["boxes"]["per_class"]) == {"cat", "dog"}
    assert json.loads((tmp_path / "b/audit.json").read_text())["task"] == "localize"
