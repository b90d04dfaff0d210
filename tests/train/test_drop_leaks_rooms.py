"""--drop-leaks in the rooms with a split of their own (segment: train/val; localize: train/val/test): held-out
images that duplicate a training image are left out, the summary says how many, and none is left."""

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from cnnlab.localize.config import LocalizeConfig
from cnnlab.localize.training import train_localizer
from cnnlab.segment.augment import NONE
from cnnlab.segment.steps import split_rows
from cnnlab.segment.training import SegmentConfig, train_unet
from tests.cli import cnnlab


def digit_files(folder, digits, count, size):
    images, labels = digits
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(images[i]).resize((size, size), Image.BICUBIC).save(folder / f"d{i:02d}.png")
    return labels


def test_segment_leaves_out_validation_copies_of_training_images(tmp_path, digits):
    root = tmp_path / "masks"
    digit_files(root / "images", digits, 24, 32)
    for i in range(12):  # twelve copies of d00: some land in validation, some beside it in training
        shutil.copyfile(root / "images/d00.png", root / "images" / f"e{i:02d}.png")
    (root / "masks").mkdir()
    for path in (root / "images").iterdir():
        Image.fromarray((np.asarray(Image.open(path)) > 127).astype(np.uint8)).save(root / "masks" / path.name)
    names = sorted(p.stem for p in (root / "images").iterdir())
    train, val = split_rows(len(names), 0.2, 0)
    copies = {k for k, n in enumerate(names) if n == "d00" or n.startswith("e")}
    assert copies & set(train) and copies & set(val)  # the plant crosses the split
    cfg = dict(data=f"folder:{root}", image_size=32, encoder="resnet18", pretrained=False, augment=NONE,
               freeze_epochs=0, finetune_epochs=1, batch_size=8, runs_dir=str(tmp_path / "runs"))
    summary = train_unet(SegmentConfig(**cfg, drop_leaks=True, name="dropped"))
    assert summary["leaks_dropped"]["val"] >= len(copies & set(val))
    assert "leaks_dropped" not in train_unet(SegmentConfig(**cfg, name="kept"))
    assert "--drop-leaks: left out" in (tmp_path / "runs/segment/dropped/log.txt").read_text()


def test_localize_records_the_split_without_leaks_once(tmp_path, digits, capsys):
    root = tmp_path / "boxes"
    labels = digit_files(root, digits, 30, 48)
    rows = ["filename,width,height,class,xmin,ymin,xmax,ymax"]
    rows += [f"d{i:02d}.png,48,48,digit{labels[i]},4,4,40,44" for i in range(30)]
    for i in range(10):
        shutil.copyfile(root / "d00.png", root / f"e{i:02d}.png")
        rows.append(f"e{i:02d}.png,48,48,digit{labels[0]},4,4,40,44")
    (root / "boxes.csv").write_text("\n".join(rows) + "\n")
    cfg = LocalizeConfig(data=f"csv:{root / 'boxes.csv'}", model="timm:resnet18", pretrained=False, image_size=32,
                         freeze_epochs=0, finetune_epochs=1, batch_size=8, drop_leaks=True, name="dropped",
                         runs_dir=str(tmp_path / "runs"))
    summary = train_localizer(cfg)
    run = tmp_path / "runs/localize/dropped"
    splits = json.loads((run / "splits.json").read_text())
    train_bytes = {Path(p).read_bytes() for p in splits["train"]}
    held = [p for k in ("val", "test") for p in splits[k]]
    assert held and not [p for p in held if Path(p).read_bytes() in train_bytes]  # no copy of training is left
    assert sum(summary["leaks_dropped"].values()) >= 1 and summary["leaks_dropped"] == splits["leaks_dropped"]
    code, out = cnnlab(capsys, "localize", "evaluate", run)  # the recorded split, not split and dropped again
    assert code == 0, out
    assert summary["images"] == {k: len(splits[k]) for k in ("train", "val", "test")}
