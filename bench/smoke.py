"""`--smoke` for every benchmark: seconds, tiny data, nothing recorded, so CI runs each one and a benchmark that
no longer runs fails the build (tests/test_bench_smoke.py).

    args = parser.parse_args()
    if args.smoke:
        args.shared = str(smoke_data(out))   # tiny copies of ../shared's layouts, made from the built-in digits

Smoke data has the layouts of ../shared/data (the packed-JPEG CIFAR-10, the Fashion-MNIST IDX files, the
Flowers-17 folder, the Oxford-IIIT Pet layout) filled with scikit-learn's digits, so a smoke run needs neither
../shared nor a network. Its figures mean nothing: a smoke run writes them under a temporary folder only.
"""

from __future__ import annotations

import argparse
import gzip
import io
import struct
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

FASHION_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz")
PET_BREEDS = (("Abyssinian", 1), ("Bengal", 1), ("american_bulldog", 2))  # (breed, species: 1 cat, 2 dog)


def add_smoke(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--smoke", action="store_true", help="seconds on tiny built-in data, nothing recorded (CI)")


def smoke_out() -> Path:
    """A fresh temporary folder for a smoke run's outputs (bench/out keeps only real measurements)."""
    return Path(tempfile.mkdtemp(prefix="cnnlab-bench-smoke-"))


def _digits(side: int, rgb: bool) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 digits as uint8 (N, side, side[, 3]) and their labels 0..9."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.stack([np.asarray(Image.fromarray((im * 255 / 16).astype(np.uint8)).resize((side, side)))
                       for im in d.images])
    if rgb:  # a tint per class, so colour carries some of the label as in photos
        tint = np.array([[1.0, 0.6 + 0.04 * k, 1.0 - 0.05 * k] for k in range(10)])[d.target]
        images = (images[..., None] * tint[:, None, None, :]).astype(np.uint8)
    return images, d.target.astype(np.uint8)


def _jpeg(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def write_cifar(folder: Path, train: int = 200, test: int = 60) -> None:
    """train.npz and test.npz in the packed-JPEG layout of ../shared/data/cifar10-jpeg (32x32 RGB)."""
    images, labels = _digits(32, rgb=True)
    folder.mkdir(parents=True, exist_ok=True)
    classes = np.array([f"digit{k}" for k in range(10)])
    for name, part in (("train", slice(0, train)), ("test", slice(train, train + test))):
        blobs = [_jpeg(im) for im in images[part]]
        offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
        np.savez_compressed(folder / f"{name}.npz", jpeg=np.frombuffer(b"".join(blobs), np.uint8), offsets=offsets,
                            labels=labels[part], classes=classes)


def write_fashion(folder: Path, train: int = 150, test: int = 50) -> None:
    """The four official Fashion-MNIST IDX files (gzip), 28x28 grayscale."""
    images, labels = _digits(28, rgb=False)
    folder.mkdir(parents=True, exist_ok=True)
    parts = ((images[:train], labels[:train]), (images[train:train + test], labels[train:train + test]))
    for (x, y), (xname, yname) in zip(parts, (FASHION_FILES[:2], FASHION_FILES[2:]), strict=True):
        with gzip.open(folder / xname, "wb") as f:
            f.write(struct.pack(">IIII", 2051, len(x), 28, 28) + x.tobytes())
        with gzip.open(folder / yname, "wb") as f:
            f.write(struct.pack(">II", 2049, len(y)) + y.tobytes())


def write_flowers(folder: Path, classes: int = 4, per_class: int = 16) -> None:
    """An image folder NN_name/image_XXXX.jpg of 64x64 RGB photos, as ../shared/data/flowers17."""
    images, labels = _digits(64, rgb=True)
    for k in range(classes):
        sub = folder / f"{k:02d}_digit{k}"
        sub.mkdir(parents=True, exist_ok=True)
        for i, index in enumerate(np.flatnonzero(labels == k)[:per_class]):
            (sub / f"image_{i:04d}.jpg").write_bytes(_jpeg(images[index]))


def write_pet(folder: Path, per_breed: int = 12, side: int = 64) -> None:
    """The Oxford-IIIT Pet layout (images/, annotations/trimaps, xmls, list.txt, trainval.txt, test.txt): a bright
    square 'pet' on a dark photo, its trimap (1 pet, 2 background, 3 border) and a VOC head box."""
    rng = np.random.default_rng(0)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for sub in ("trimaps", "xmls"):
        (folder / "annotations" / sub).mkdir(parents=True, exist_ok=True)
    rows = []
    for breed_id, (breed, species) in enumerate(PET_BREEDS, 1):
        for n in range(1, per_breed + 1):
            stem = f"{breed}_{n}"
            size = int(rng.integers(side // 4, side // 2))
            x0, y0 = (int(v) for v in rng.integers(2, side - size - 2, 2))
            image = rng.integers(0, 60, (side, side, 3)).astype(np.uint8)
            image[y0:y0 + size, x0:x0 + size] = (200, 120 + 40 * breed_id, 60 * species)
            trimap = np.full((side, side), 2, np.uint8)
            trimap[y0:y0 + size, x0:x0 + size] = 1
            trimap[y0, x0:x0 + size] = trimap[y0 + size - 1, x0:x0 + size] = 3
            (folder / "images" / f"{stem}.jpg").write_bytes(_jpeg(image))
            Image.fromarray(trimap).save(folder / "annotations" / "trimaps" / f"{stem}.png")
            name = "cat" if species == 1 else "dog"
            (folder / "annotations" / "xmls" / f"{stem}.xml").write_text(
                f"<annotation><filename>{stem}.jpg</filename><size><width>{side}</width><height>{side}</height>"
                f"<depth>3</depth></size><object><name>{name}</name><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin>"
                f"<xmax>{x0 + size}</xmax><ymax>{y0 + size}</ymax></bndbox></object></annotation>")
            rows.append((stem, breed_id, species, n))
    lines = [f"{stem} {breed_id} {species} {breed_id}\n" for stem, breed_id, species, _ in rows]
    (folder / "annotations" / "list.txt").write_text("#Image CLASS-ID SPECIES BREED-ID\n" + "".join(lines))
    train = [line for line, (*_, n) in zip(lines, rows, strict=True) if n % 4]
    (folder / "annotations" / "trainval.txt").write_text("".join(train))
    (folder / "annotations" / "test.txt").write_text("".join(line for line in lines if line not in train))


def smoke_data(root: Path) -> Path:
    """ROOT/data with tiny copies of ../shared/data's sets, by the same folder names; returns ROOT/data."""
    data = root / "data"
    write_cifar(data / "cifar10-jpeg")
    write_fashion(data / "fashion-mnist-subset")
    write_flowers(data / "flowers17")
    write_pet(data / "oxford-pet-3breeds")
    return data
