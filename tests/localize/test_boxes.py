"""The box readers, on files the tests write: every format reads back the boxes written, and bad files get our
error naming the file."""

import json

import pytest
import torch
from PIL import Image

from cnnlab.data.boxes import read_boxes
from cnnlab.data.boxes.tensors import box_tensors
from cnnlab.errors import ConfigError, DataError
from tests.conftest import shared_path
from tests.localize.formats import WRITERS, canvas, write_csv, write_voc, write_yolo


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_every_format_reads_back_the_boxes_written(tmp_path, fmt):
    data = canvas(6, objects=2)
    path = WRITERS[fmt](data, tmp_path / fmt)
    boxes = read_boxes(f"{fmt}:{path}")
    assert len(boxes) == 6 and boxes.classes == data.classes
    back = box_tensors(boxes, 48, classes=data.classes)
    order = [int(p.rsplit("im", 1)[1].split(".")[0]) for p in back.paths]

    def rows(t):
        return sorted(tuple(round(v, 3) for v in r) for r in t.tolist() if r[0] >= 0)

    for i, k in enumerate(order):
        # row by row: pytest >= 9.2 refuses approx() of nested tuples
        got, want = rows(back.targets[i]), rows(data.targets[k])
        assert len(got) == len(want) and len(got) > 0
        for g, w in zip(got, want, strict=True):
            assert g == pytest.approx(w, abs=1e-3)
    assert torch.equal(back.images[order.index(0)], data.images[0])


def test_images_without_boxes_are_listed_and_left_out(tmp_path):
    data = canvas(4)
    root = write_yolo(data, tmp_path / "y")
    (root / "labels" / "im2.txt").write_text("")
    (root / "labels" / "im3.txt").unlink()
    boxes = read_boxes(f"yolo:{root}")
    assert len(boxes) == 2 and sorted(p.rsplit("/", 1)[1] for p, _ in boxes.left_out) == ["im2.png", "im3.png"]


@pytest.mark.parametrize("row, said", [
    ("im0.png,48,48,0,10,10,60,20", "outside the 48x48 image"),
    ("im0.png,48,48,0,10,10,10,20", "is empty"),
    ("im0.png,48,48,0,30,10,20,20", "is inverted"),
    ("im0.png,48,48,cat,1,1,20,20", "not in the class list"),
    ("../secret.png,48,48,0,1,1,20,20", "outside"),
])
def test_bad_boxes_name_the_file(tmp_path, row, said):
    path = write_csv(canvas(2), tmp_path / "c")
    (tmp_path / "c" / "classes.txt").write_text("0\n1\n2\n")
    path.write_text(path.read_text() + row + "\n")
    with pytest.raises(DataError, match=said) as err:
        read_boxes(f"csv:{path}")
    assert "boxes.csv line 4" in str(err.value) or "c/im0.png:" in str(err.value)


def test_yolo_class_beyond_the_list_and_voc_without_bndbox(tmp_path):
    root = write_yolo(canvas(2), tmp_path / "y")
    (root / "labels" / "im0.txt").write_text("7 0.5 0.5 0.2 0.2\n")
    with pytest.raises(DataError, match=r"im0.txt line 1: class 7 is not in the 3 classes"):
        read_boxes(f"yolo:{root}")
    voc = write_voc(canvas(2), tmp_path / "v")
    (voc / "Annotations" / "im1.xml").write_text("<annotation><filename>im1.png</filename><object><name>0</name>"
                                                  "</object></annotation>")
    with pytest.raises(DataError, match=r"im1.xml: object 1 \('0'\) has no <bndbox>"):
        read_boxes(f"voc:{voc}")
    (voc / "Annotations" / "im1.xml").write_text('<!DOCTYPE x [<!ENTITY a "aaaa">]><annotation/>')
    with pytest.raises(DataError, match="DOCTYPE"):
        read_boxes(f"voc:{voc}")


def test_coco_unknown_category_and_bad_spec(tmp_path):
    path = WRITERS["coco"](canvas(2), tmp_path / "co")
    doc = json.loads(path.read_text())
    doc["annotations"][0]["category_id"] = 99
    path.write_text(json.dumps(doc))
    with pytest.raises(DataError, match="category_id 99 is not among the categories"):
        read_boxes(f"coco:{path}")
    with pytest.raises(ConfigError, match="--data must be one of"):
        read_boxes(f"pascal:{tmp_path}")
    with pytest.raises(DataError, match="does not exist"):
        read_boxes(f"csv:{tmp_path / 'nope.csv'}")


def test_annotation_size_must_match_the_image(tmp_path):
    path = write_csv(canvas(2), tmp_path / "c")
    Image.new("RGB", (30, 20)).save(tmp_path / "c" / "im0.png")
    with pytest.raises(DataError, match="im0.png is 30x20 but its annotation says 48x48"):
        box_tensors(read_boxes(f"csv:{path}"), 32)


def test_model_classes_refuse_an_unknown_class(tmp_path):
    boxes = read_boxes(f"csv:{write_csv(canvas(3), tmp_path / 'c')}")
    with pytest.raises(DataError, match="is not one of the model's classes"):
        box_tensors(boxes, 32, classes=["cat", "dog"])


@pytest.mark.shared
def test_oxford_pet_head_boxes_species_and_breed():
    root = shared_path("oxford-pet-3breeds")
    species = read_boxes(f"oxford-pet:{root}")
    assert len(species) == 296 and species.classes == ["cat", "dog"]
    assert len(species.left_out) == 304  # the test half, the GIF and the RGBA PNG have no xml
    breed = read_boxes(f"oxford-pet:{root}", label="breed")
    assert breed.classes == ["Abyssinian", "Bengal", "american_bulldog"]
