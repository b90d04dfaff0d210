"""Image files as a person sees them, decoded one at a time, cached beside the data."""

import numpy as np
import pytest
from PIL import Image

from cnnlab.data import stream
from cnnlab.data.datasets import DataConfig, load_dataset
from cnnlab.data.folders import load_images, open_image
from cnnlab.errors import DataError


def test_16_bit_palette_alpha_cmyk_and_exif_come_out_as_seen(tmp_path):
    gray16 = np.full((8, 8), 32768, np.uint16)  # mid-gray in 16 bits
    Image.fromarray(gray16).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    assert abs(int(np.asarray(open_image(tmp_path / "g16.png")).mean()) - 128) <= 1  # Pillow's convert gives 255

    palette = Image.new("P", (8, 8))
    palette.putpalette([255, 0, 0] * 256)
    palette.save(tmp_path / "p.png")
    assert np.asarray(open_image(tmp_path / "p.png"))[0, 0].tolist() == [255, 0, 0]

    rgba = Image.new("RGBA", (8, 8), (0, 0, 0, 0))  # fully transparent: shows the white page
    rgba.save(tmp_path / "a.png")
    assert np.asarray(open_image(tmp_path / "a.png"))[0, 0].tolist() == [255, 255, 255]

    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(tmp_path / "c.jpg")  # red in CMYK
    r, g, b = np.asarray(open_image(tmp_path / "c.jpg"))[4, 4].tolist()
    assert r > 200 and g < 60 and b < 60

    tall = Image.new("RGB", (20, 10), (0, 0, 0))
    tall.paste((255, 255, 255), (0, 0, 10, 10))  # left half white
    exif = tall.getexif()
    exif[0x0112] = 6  # a phone held upright: rotate 90 degrees clockwise to view
    tall.save(tmp_path / "r.jpg", exif=exif)
    upright = np.asarray(open_image(tmp_path / "r.jpg"))
    assert upright.shape[:2] == (20, 10) and upright[2, 5].mean() > 200 and upright[17, 5].mean() < 60


def test_mixed_folder_loads_one_size_and_skips_the_broken(tmp_path):
    Image.fromarray(np.full((40, 60), 65535, np.uint16)).save(tmp_path / "white16.png")
    Image.new("RGB", (64, 48), (10, 200, 30)).save(tmp_path / "green.jpg", quality=95)
    (tmp_path / "broken.png").write_bytes(b"not an image")
    files = sorted(tmp_path.iterdir())
    data, skipped = load_images(files, [0, 1, 0], ["a", "b"], 16)
    assert data.images.shape == (2, 3, 16, 16) and [p for p, _ in skipped] == [str(tmp_path / "broken.png")]
    assert data.paths == [str(tmp_path / "green.jpg"), str(tmp_path / "white16.png")]
    assert data.images[1].float().mean() > 250  # 16-bit white is white, not clipped noise
    assert data.labels.tolist() == [1, 0]


def test_second_load_comes_from_the_cache_and_a_change_invalidates_it(digit_folder, monkeypatch):
    cfg = DataConfig(f"folder:{digit_folder}", image_size=12)
    first = load_dataset(cfg)
    assert list((digit_folder / ".cnnlab-cache").glob("images-*.npz"))

    def refuse(*args):
        raise AssertionError("decoded again although cached")

    monkeypatch.setattr(stream, "_decode", refuse)
    second = load_dataset(cfg)
    assert all((a.images == b.images).all() for a, b in zip((first.train, first.test), (second.train, second.test),
                                                             strict=True))
    (digit_folder / "class0" / "0.png").write_bytes((digit_folder / "class0" / "1.png").read_bytes())
    with pytest.raises(AssertionError, match="decoded again"):
        load_dataset(cfg)  # a changed file is read again, not served from the cache


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "wrong-arrays"])
def test_a_damaged_cache_is_rebuilt_with_a_notice_never_an_error(digit_folder, capsys, damage):
    cfg = DataConfig(f"folder:{digit_folder}", image_size=12)
    first = load_dataset(cfg)
    (cache,) = (digit_folder / ".cnnlab-cache").glob("images-*.npz")
    good = cache.read_bytes()
    if damage == "truncated":
        cache.write_bytes(good[: len(good) // 2])
    elif damage == "garbage":
        cache.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    elif damage == "empty":
        cache.write_bytes(b"")
    else:
        with open(cache, "wb") as f:
            np.savez(f, images=np.zeros((2, 1, 12, 12), np.uint8), labels=np.zeros(5, np.int64),
                     classes=np.array(["a"]), paths=np.array(["x"]), skipped=np.zeros((0, 2), str))
    capsys.readouterr()
    again = load_dataset(cfg)
    assert (again.train.images == first.train.images).all() and again.train.paths == first.train.paths
    said = capsys.readouterr().err
    assert "could not be read" in said and "rebuilding it" in said and len(said.strip().splitlines()) <= 2
    load_dataset(cfg)  # rebuilt in place: the next run reads it without a word
    assert "could not be read" not in capsys.readouterr().err


def test_one_class_is_refused_and_a_single_image_class_is_kept_for_training(digit_folder):
    for extra in ("class1", "class2"):
        for f in (digit_folder / extra).iterdir():
            f.unlink()
        (digit_folder / extra).rmdir()
    with pytest.raises(DataError, match="needs at least 2"):
        load_dataset(DataConfig(f"folder:{digit_folder}"))
    lonely = digit_folder / "lonely"
    lonely.mkdir()
    (digit_folder / "class0" / "3.png").rename(lonely / "3.png")
    data = load_dataset(DataConfig(f"folder:{digit_folder}"))
    assert any("single image" in n and "lonely" in n for n in data.notes)
    assert 1 in data.train.labels.tolist() and 1 not in data.test.labels.tolist() + data.val.labels.tolist()
    assert set(data.test.labels.tolist()) == {0}


def test_large_jpegs_are_decoded_at_reduced_size(tmp_path):
    Image.new("RGB", (2400, 1800), (90, 120, 150)).save(tmp_path / "big.jpg")
    small = open_image(tmp_path / "big.jpg", side=224)
    assert 224 <= min(small.size) < 1800 / 2  # the decoder scaled down; never below what was asked
    assert open_image(tmp_path / "big.jpg").size == (2400, 1800)


def test_no_cache_in_a_read_only_data_folder_or_when_switched_off(digit_folder, monkeypatch):
    from cnnlab.data.datasets import folder_cache

    assert folder_cache(digit_folder) == digit_folder / ".cnnlab-cache"
    monkeypatch.setenv("CNNLAB_CACHE", "0")
    assert folder_cache(digit_folder) is None
    monkeypatch.delenv("CNNLAB_CACHE")
    digit_folder.chmod(0o555)
    try:
        load_dataset(DataConfig(f"folder:{digit_folder}", image_size=12))
        assert not (digit_folder / ".cnnlab-cache").exists()
    finally:
        digit_folder.chmod(0o755)


def test_images_too_large_for_memory_are_refused_before_allocating(digit_folder, monkeypatch):
    monkeypatch.setattr(stream, "available_memory", lambda: 64 << 20)
    with pytest.raises(DataError, match="pass a smaller --image-size"):
        load_dataset(DataConfig(f"folder:{digit_folder}", image_size=1024))


def test_folder_data_is_kept_as_an_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert DataConfig("folder:photos").name == f"folder:{tmp_path / 'photos'}"
    assert DataConfig("cifar10", root="cifar").root == str(tmp_path / "cifar")
