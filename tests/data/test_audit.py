"""`cnnlab data audit` on small real images: planted duplicates across splits are found and named as leakage."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from cnnlab.data.audit import audit
from cnnlab.data.audit.duplicates import dhash, find_pairs
from tests.cli import cnnlab


@pytest.fixture
def split_folder(tmp_path, digits):
    """train/ and test/ of three digit classes as 32x32 RGB photos (scikit-learn's real digits, tinted per image)."""
    images, labels = digits
    rng = np.random.default_rng(0)
    root = tmp_path / "photos"
    for cls in (0, 1, 2):
        rows = np.flatnonzero(labels == cls)[:30]
        for k, i in enumerate(rows):
            split = "train" if k < 20 else "test"
            (root / split / f"c{cls}").mkdir(parents=True, exist_ok=True)
            tint = rng.uniform(0.4, 1.0, 3)
            rgb = (np.repeat(images[i][..., None], 3, 2) * tint).astype(np.uint8)
            Image.fromarray(rgb).resize((32, 32), Image.BICUBIC).save(root / split / f"c{cls}" / f"{k}.png")
    return root


def test_a_clean_folder_has_no_leak_and_planted_ones_are_found(split_folder, tmp_path):
    clean = audit(f"folder:{split_folder}", None, tmp_path / "clean")
    assert clean["leakage"]["pairs"] == 0 and clean["exact_duplicates"] == 0
    assert clean["splits"] == {"train": 54, "val": 6, "test": 30} and clean["sizes"] == {"32x32": 90}
    # plant: a training photo copied into test (exact), another re-encoded as JPEG and resized (near)
    shutil.copyfile(split_folder / "train/c1/3.png", split_folder / "test/c1/copy.png")
    with Image.open(split_folder / "train/c2/5.png") as img:
        img.resize((40, 40), Image.BILINEAR).save(split_folder / "test/c0/near.jpg", quality=85)
    (split_folder / "test/c0/broken.png").write_bytes(b"not a png")
    found = audit(f"folder:{split_folder}", None, tmp_path / "planted")
    leaks = [p for p in found["pairs"] if p["leak"]]
    names = {(p["kind"], p["b"] if p["b_split"] == "test" else p["a"]) for p in leaks}
    assert ("exact", "test/c1/copy.png") in names and ("near", "test/c0/near.jpg") in names
    near = next(p for p in leaks if p["kind"] == "near")
    assert near["a_class"] != near["b_class"] and found["conflicting_labels"] >= 1  # a copy under another label
    assert found["leakage"]["test_images"] >= 2 and found["distinct_sizes"] == 2
    assert [u["path"] for u in found["unreadable"]] == [str(split_folder / "test/c0/broken.png")]
    out = tmp_path / "planted"
    assert {"audit.json", "report.html", "classes.png", "pairs.png", "sizes.png"} <= {p.name for p in out.iterdir()}
    assert json.loads((out / "audit.json").read_text())["leakage"] == found["leakage"]


def test_near_duplicates_need_both_the_hash_and_the_thumbnail(digits):
    images = digits[0][:200]
    thumbs = np.stack([np.asarray(Image.fromarray(im).resize((16, 16), Image.BILINEAR)) for im in images])
    shifted = np.clip(thumbs[7].astype(int) + 3, 0, 255).astype(np.uint8)  # a brightness change keeps the picture
    inverted = 255 - thumbs[9]  # the same hash bits flipped: a different picture
    all_thumbs = np.concatenate([thumbs, shifted[None], inverted[None]])
    pairs = find_pairs([str(i) for i in range(len(all_thumbs))], all_thumbs)
    keys = {(p.a, p.b) for p in pairs}
    assert (7, 200) in keys and not any(201 in k for k in keys)
    assert dhash(thumbs[:2]).shape == (2, 8)
    exact = find_pairs(["x", "y", "x", "x"], np.zeros((4, 16, 16), np.uint8) + np.arange(4)[:, None, None] * 60)
    assert {(p.a, p.b) for p in exact if p.kind == "exact"} == {(0, 2), (0, 3)}


def test_default_out_is_a_folder_named_after_the_data(split_folder, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(split_folder)
    code, out = cnnlab(capsys, "data", "audit", "--data", "folder:.")
    assert code == 0, out
    assert (split_folder / "runs/audit/photos/audit.json").is_file()


def test_cli_exit_code_and_bad_options(split_folder, tmp_path, capsys):
    code, out = cnnlab(capsys, "data", "audit", "--data", f"folder:{split_folder}", "--out", str(tmp_path / "a"),
                       "--fail-on", "leakage")
    assert code == 0, out
    shutil.copyfile(split_folder / "train/c0/0.png", split_folder / "test/c0/leak.png")
    code, out = cnnlab(capsys, "data", "audit", "--data", f"folder:{split_folder}", "--out", str(tmp_path / "b"),
                       "--fail-on", "leakage")
    assert code == 1 and "leakage: 1 held-out images" in out
    code, out = cnnlab(capsys, "data", "audit", "--data", f"folder:{split_folder}", "--out", str(tmp_path / "c"),
                       "--fail-on", "leaks")
    assert code == 2 and "--fail-on" in out and not (tmp_path / "c").exists()
    code, out = cnnlab(capsys, "data", "audit", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "d"))
    assert code == 2 and not (tmp_path / "d").exists()


def test_an_official_format_audits_with_its_own_splits(tmp_path):
    found = audit("digits", None, tmp_path / "digits")
    assert found["images"] == 1797 and found["sizes"] == {"8x8": 1797} and found["modes"] == {"L": 1797}
    assert sum(found["splits"].values()) == 1797 and all(p["a"].split("[")[0] in ("train", "val", "test")
                                                         for p in found["pairs"])


def test_drop_leaks_leaves_out_held_out_copies_and_says_how_many(split_folder, tmp_path):
    import cnnlab
    from cnnlab.classify.evaluate import evaluate_run
    from cnnlab.data.config import DataConfig
    from cnnlab.data.datasets import load_dataset

    for k in (1, 4, 7):  # three training photos copied into test, one re-encoded as JPEG
        shutil.copyfile(split_folder / f"train/c1/{k}.png", split_folder / f"test/c1/copy{k}.png")
    with Image.open(split_folder / "train/c2/2.png") as img:
        img.save(split_folder / "test/c2/again.jpg", quality=90)
    plain = load_dataset(DataConfig(f"folder:{split_folder}", image_size=32))
    dropped = load_dataset(DataConfig(f"folder:{split_folder}", image_size=32, drop_leaks=True))
    assert len(plain.test) == 34 and plain.leaks_dropped is None
    assert dropped.leaks_dropped["test"] >= 4 and len(dropped.test) == 34 - dropped.leaks_dropped["test"]
    assert not any("copy" in p or "again" in p for p in dropped.test.paths)
    assert any("--drop-leaks: left out" in n for n in dropped.notes) and len(dropped.train) == len(plain.train)
    run = cnnlab.classify.train(data=f"folder:{split_folder}", image_size=32, epochs=1, drop_leaks=True,
                                runs_dir=tmp_path, name="clean")
    summary = json.loads((run.path / "summary.json").read_text())
    assert summary["leaks_dropped"] == dropped.leaks_dropped
    assert evaluate_run(run.path)["count"] == len(dropped.test)  # the run's own held-out images, leaks left out
    again = load_dataset(DataConfig(f"folder:{split_folder}", image_size=32, drop_leaks=True),
                         manifest=json.loads((run.path / "splits.json").read_text()))
    assert again.leaks_dropped == dropped.leaks_dropped and len(again.test) == len(dropped.test)  # not dropped twice


def test_similarity_training_drops_leaks_too(split_folder, tmp_path):
    import cnnlab

    shutil.copyfile(split_folder / "train/c0/2.png", split_folder / "test/c0/copy.png")
    run = cnnlab.similarity.train(data=f"folder:{split_folder}", image_size=32, epochs=1, drop_leaks=True,
                                  runs_dir=tmp_path, name="s")
    summary = json.loads((run.path / "summary.json").read_text())
    assert summary["leaks_dropped"]["test"] >= 1
