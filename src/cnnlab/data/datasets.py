"""Datasets by name, read from local files in their official formats.

Each reader returns the full training set, the official test set (or None when the dataset has none)
and the files it skipped; `load_dataset` then makes the seeded validation/test splits, resizes and
converts channels, so every dataset comes out the same way.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import numpy as np

from cnnlab.data import formats
from cnnlab.data.config import FOLDER_PREFIX, DataConfig, default_root
from cnnlab.data.folders import load_images, scan_class_folders, split_folders
from cnnlab.data.images import DataSplits, ImageData, convert_channels, from_numpy, resize
from cnnlab.data.manifest import check_manifest, is_file_manifest, load_from_manifest, split_manifest, verify
from cnnlab.data.splits import stratified_split
from cnnlab.errors import DataError
from cnnlab.options import said
from cnnlab.registry import Registry

Reader = Callable[["DataConfig", Path | None], tuple[ImageData, ImageData | None, list[tuple[str, str]]]]
DATASETS: Registry[Reader] = Registry("dataset")

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]


def dataset_root(cfg: DataConfig) -> Path:
    """The folder the dataset is read from."""
    if cfg.name.startswith(FOLDER_PREFIX):
        return Path(cfg.name[len(FOLDER_PREFIX):]).expanduser()
    return Path(cfg.root).expanduser() if cfg.root else default_root(cfg.name)


def load_dataset(cfg: DataConfig, manifest: dict | None = None, min_classes: int = 2) -> DataSplits:
    """Read, split and shape the dataset that `cfg` names. With a run's `manifest` (splits.json), the run's
    own split is used: the same files for an image folder (changes reported in `notes`), and a check that
    official files still hold the same splits. Fewer than `min_classes` classes is an error (a classifier
    needs two to tell apart; a gallery to search may have one)."""
    root = dataset_root(cfg)
    reader = read_folder if cfg.name.startswith(FOLDER_PREFIX) else DATASETS.get(cfg.name)
    if manifest is not None and is_file_manifest(check_manifest(manifest)):
        if not root.is_dir():
            raise DataError(f"the run's data folder {root} does not exist any more")
        splits = load_from_manifest(cfg.name, root, manifest, cfg.image_size, folder_cache(root))
        splits = splits.map(lambda data: shape(data, cfg))
        if cfg.drop_leaks:  # splits.json lists the files as trained on, leaks already left out
            splits.leaks_dropped = manifest.get("leaks_dropped")
        return splits
    train, test, skipped = reader(cfg, root)
    if len(train.classes) < min_classes:
        raise DataError(f"{cfg.name} has {len(train.classes)} class ({', '.join(train.classes)}); a classifier needs "
                        f"at least {min_classes} to tell apart: add a folder per class under {root}")
    notes: list[str] = []
    val = read_folder_val(cfg, root, train.classes, skipped) if reader is read_folder else None
    if test is None:
        train, test = stratified_split(train, cfg.test_fraction, cfg.seed, notes)
    if cfg.train_per_class is not None:
        train = take_per_class(train, cfg.train_per_class, cfg.seed)
    if val is None:
        train, val = stratified_split(train, cfg.val_fraction, cfg.seed + 1, notes)
    splits = DataSplits(cfg.name, train, val, test, skipped, sorted(set(notes)))
    splits = _without_leaks(splits.map(lambda data: shape(data, cfg)), cfg)
    if manifest is not None:  # splits.json records the splits as trained on: after --drop-leaks
        verify(splits, manifest)
    return splits


def _without_leaks(splits: DataSplits, cfg: DataConfig) -> DataSplits:
    if not cfg.drop_leaks:
        return splits
    from cnnlab.data.leaks import drop_leaks

    return drop_leaks(splits)


def load_run_dataset(run, cfg):
    """A run's data (`run` a RunDir, `cfg` its DataConfig): with the run's split as its splits.json records it
    when it has one, otherwise split now and recorded there, so evaluating or resuming later uses the same
    images."""
    if (run.path / "splits.json").is_file():
        return load_dataset(cfg, manifest=run.read_json("splits.json"))
    data = load_dataset(cfg)
    run.write_json("splits.json", split_manifest(data, dataset_root(cfg)))
    return data


def shape(data: ImageData, cfg: DataConfig) -> ImageData:
    """Resize to cfg.image_size and convert to cfg.channels, as asked."""
    images = data.images
    if cfg.image_size is not None:
        images = resize(images, cfg.image_size)
    if cfg.channels is not None:
        images = convert_channels(images, cfg.channels)
    return ImageData(images, data.labels, data.classes, data.paths)


def folder_cache(root: Path) -> Path | None:
    """Where decoded images of an image folder are cached: a hidden folder inside it (never read as data).
    None (no cache) when CNNLAB_CACHE=0 or the folder is read-only, by its permissions even for root."""
    if os.environ.get("CNNLAB_CACHE", "1") == "0":
        return None
    try:
        writable = os.access(root, os.W_OK) and bool(root.stat().st_mode & stat.S_IWUSR)
    except OSError:
        return None
    return root / ".cnnlab-cache" if writable else None


def take_per_class(data: ImageData, per_class: int, seed: int) -> ImageData:
    rng = np.random.default_rng(seed)
    labels = data.labels.numpy()
    keep = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in range(len(data.classes))]
    return data.subset(np.sort(np.concatenate(keep)))


def missing(name: str, root: Path, expected: list[str], extra: str = "") -> DataError:
    return DataError(
        f"{name}: expected {', '.join(expected)} in {root}, but they are not all there. "
        f"Pass the folder that holds them with {said('data_dir')}, set CNNLAB_DATA, or run "
        f"`cnnlab data download {name}` where a network is reachable.{extra}"
    )


@DATASETS.register("digits")
def read_digits(cfg: DataConfig, root: Path | None):
    """scikit-learn's 1,797 8x8 digits (shipped inside scikit-learn); values 0..16 scaled to 0..255."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    return from_numpy(images, bunch.target, [str(d) for d in range(10)]), None, []


def _read_idx_pair(name: str, root: Path, prefix: str, classes: list[str]) -> ImageData:
    roots = [root, root / "raw", root / name / "raw"]
    image_name, label_name = f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"
    for folder in roots:
        images, labels = formats.find_file(folder, [image_name]), formats.find_file(folder, [label_name])
        if images and labels:
            x, y = formats.read_idx(images), formats.read_idx(labels)
            if len(x) != len(y):
                raise DataError(f"{images} holds {len(x)} images but {labels} holds {len(y)} labels")
            return from_numpy(x, y, classes)
    raise missing(name, root, [f"{image_name}.gz", f"{label_name}.gz"])


def _mnist_family(name: str, classes: list[str]) -> Reader:
    def read(cfg: DataConfig, root: Path):
        train = _read_idx_pair(name, root, "train", classes)
        return train, _read_idx_pair(name, root, "t10k", classes), []

    read.__doc__ = f"{name} from its official IDX files (gzipped or not)."
    return read


DATASETS.register("mnist")(_mnist_family("mnist", [str(d) for d in range(10)]))
DATASETS.register("fashion-mnist")(_mnist_family("fashion-mnist", FASHION_CLASSES))


@DATASETS.register("cifar10")
def read_cifar10(cfg: DataConfig, root: Path):
    """CIFAR-10 from the official python pickles, or from the packed-JPEG npz (train.npz, test.npz)."""
    if (root / "train.npz").is_file() and (root / "test.npz").is_file():
        (xtr, ytr, classes), (xte, yte, _) = (formats.read_packed_jpeg(root / f) for f in ("train.npz", "test.npz"))
        return from_numpy(xtr, ytr, classes), from_numpy(xte, yte, classes), []
    for folder in (root, root / "cifar-10-batches-py"):
        batches = [f"data_batch_{i}" for i in range(1, 6)]
        if all((folder / b).is_file() for b in [*batches, "test_batch", "batches.meta"]):
            classes = formats.read_cifar_meta(folder / "batches.meta", b"label_names")
            train, test = (formats.read_cifar_pickles(folder, b) for b in (batches, ["test_batch"]))
            return from_numpy(*train, classes), from_numpy(*test, classes), []
    raise missing("cifar10", root, ["train.npz + test.npz", "or cifar-10-batches-py/data_batch_1..5 + test_batch"])


@DATASETS.register("cifar100")
def read_cifar100(cfg: DataConfig, root: Path):
    """CIFAR-100 (fine labels) from the official python pickles."""
    for folder in (root, root / "cifar-100-python"):
        if all((folder / f).is_file() for f in ("train", "test", "meta")):
            classes = formats.read_cifar_meta(folder / "meta", b"fine_label_names")
            train, test = (formats.read_cifar_pickles(folder, [b]) for b in ("train", "test"))
            return from_numpy(*train, classes), from_numpy(*test, classes), []
    raise missing("cifar100", root, ["cifar-100-python/train", "test", "meta"])


@DATASETS.register("flowers17")
def read_flowers17(cfg: DataConfig, root: Path):
    """Oxford Flowers-17 as a class-folder tree (NN_classname/image_XXXX.jpg); 64x64 unless told."""
    if not root.is_dir():
        raise missing("flowers17", root, ["00_daffodil/", "01_snowdrop/", "..."])
    cfg = DataConfig(**{**cfg.__dict__, "image_size": cfg.image_size or 64})
    train, test, skipped = read_folder(cfg, root)
    strip = [c.split("_", 1)[1] if c[:2].isdigit() and "_" in c else c for c in train.classes]
    train.classes = strip
    return train, test, skipped


def read_folder(cfg: DataConfig, root: Path):
    """Any image folder: root/<class>/..., or root/train|val|test/<class>/... ."""
    splits = split_folders(root)
    if "train" not in splits:
        paths, labels, classes = scan_class_folders(root)
        data, skipped = load_images(paths, labels, classes, cfg.image_size, cache_dir=folder_cache(root))
        return data, None, skipped
    paths, labels, classes = scan_class_folders(splits["train"])
    train, skipped = load_images(paths, labels, classes, cfg.image_size, cache_dir=folder_cache(root))
    test = None
    for split in ("test", "val"):  # a folder with only val/ uses it as the held-out set
        if split in splits:
            test, more = load_images(*scan_split_folder(splits[split], classes), cfg.image_size,
                                     cache_dir=folder_cache(root))
            skipped += more
            break
    return train, test, skipped


def read_folder_val(cfg: DataConfig, root: Path, classes: list[str], skipped: list) -> ImageData | None:
    """root/val/ as the validation set when root has train/, val/ and test/ (with only val/, read_folder
    uses it as the held-out set); None otherwise."""
    splits = split_folders(root)
    if not {"train", "val", "test"} <= set(splits):
        return None
    val, more = load_images(*scan_split_folder(splits["val"], classes), cfg.image_size, cache_dir=folder_cache(root))
    skipped += more
    return val


def scan_split_folder(folder: Path, classes: list[str]):
    """The class folders of val/ or test/, which must be among train/'s: an unknown one is an error, not dropped."""
    unknown = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")
                     and p.name not in classes)
    if unknown:
        raise DataError(f"{folder} has class folders that train/ does not: {', '.join(unknown[:5])}; every class "
                        "needs training images (add them under train/, or remove the folder)")
    return scan_class_folders(folder, classes)
