import numpy as np
import pytest
from PIL import Image

from cnnlab.data.datasets import DataConfig, load_dataset
from cnnlab.errors import DataError


def test_folder_split_is_seeded_and_stratified(digit_folder):
    a = load_dataset(DataConfig(f"folder:{digit_folder}", test_fraction=0.25, val_fraction=0.2, seed=1))
    b = load_dataset(DataConfig(f"folder:{digit_folder}", test_fraction=0.25, val_fraction=0.2, seed=1))
    assert a.classes == ["class0", "class1", "class2"]
    assert np.bincount(a.test.labels.numpy()).tolist() == [5, 5, 5]
    assert a.test.paths == b.test.paths and a.train.images.shape[1:] == (1, 16, 16)
    assert not set(a.test.paths) & set(a.train.paths) and not set(a.val.paths) & set(a.train.paths)


def test_unreadable_image_is_skipped_and_named(digit_folder):
    bad = digit_folder / "class1" / "broken.png"
    good = (digit_folder / "class1" / "0.png").read_bytes()
    bad.write_bytes(good[: len(good) // 2])  # truncated
    (digit_folder / "class2" / "notes.jpg").write_text("not an image")
    splits = load_dataset(DataConfig(f"folder:{digit_folder}"))
    skipped = {p for p, _ in splits.skipped}
    assert skipped == {str(bad), str(digit_folder / "class2" / "notes.jpg")}
    assert len(splits.train) + len(splits.val) + len(splits.test) == 60


def test_no_readable_image_fails(tmp_path):
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        (tmp_path / cls / "x.png").write_text("nope")
    with pytest.raises(DataError, match="none of the 2 images could be read"):
        load_dataset(DataConfig(f"folder:{tmp_path}"))


def test_empty_class_folder_fails(digit_folder):
    (digit_folder / "class9").mkdir()
    with pytest.raises(DataError, match="class9 is empty"):
        load_dataset(DataConfig(f"folder:{digit_folder}"))


def test_missing_folder_fails(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(DataConfig(f"folder:{tmp_path / 'nowhere'}"))


def test_mixed_sizes_need_image_size_and_modes_become_rgb(digit_folder):
    Image.new("RGB", (20, 12), (200, 10, 10)).save(digit_folder / "class0" / "red.png")
    with pytest.raises(DataError, match="--image-size"):
        load_dataset(DataConfig(f"folder:{digit_folder}"))
    splits = load_dataset(DataConfig(f"folder:{digit_folder}", image_size=12))
    assert splits.train.images.shape[1:] == (3, 12, 12)
    gray = splits.train.images[splits.train.labels == 1][0]
    assert (gray[0] == gray[1]).all() and (gray[1] == gray[2]).all()


def test_train_test_subfolders_are_used(digit_folder, tmp_path):
    root = tmp_path / "layout"
    for split, take in (("train", range(0, 15)), ("test", range(15, 20))):
        for cls in ("class0", "class1"):
            (root / split / cls).mkdir(parents=True)
            for k in take:
                (root / split / cls / f"{k}.png").write_bytes((digit_folder / cls / f"{k}.png").read_bytes())
    splits = load_dataset(DataConfig(f"folder:{root}", val_fraction=0.2))
    assert len(splits.test) == 10 and len(splits.train) + len(splits.val) == 30
    assert all("/test/" in p for p in splits.test.paths)


def test_train_val_test_layout_uses_each_folder(digit_folder, tmp_path):
    import shutil

    root = tmp_path / "tvt"
    for split, picks in (("train", range(0, 12)), ("val", range(12, 16)), ("test", range(16, 20))):
        for cls in ("class0", "class1", "class2"):
            (root / split / cls).mkdir(parents=True)
            for k in picks:
                shutil.copy(digit_folder / cls / f"{k}.png", root / split / cls / f"{k}.png")
    data = load_dataset(DataConfig(f"folder:{root}"))
    assert (len(data.train), len(data.val), len(data.test)) == (36, 12, 12)
    assert all("/val/" in p for p in data.val.paths) and all("/test/" in p for p in data.test.paths)
    (root / "test" / "zzz").mkdir()
    shutil.copy(digit_folder / "class0" / "0.png", root / "test" / "zzz" / "0.png")
    with pytest.raises(DataError, match="train/ does not: zzz"):
        load_dataset(DataConfig(f"folder:{root}"))
