"""Download official dataset files when a user asks and a network exists (never in tests)."""

from __future__ import annotations

import shutil
from pathlib import Path

from cnnlab.data.datasets import DATASETS, default_root
from cnnlab.errors import DataError
from cnnlab.registry import unknown_name_message

_MNIST = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
          "t10k-labels-idx1-ubyte.gz"]
SOURCES = {
    "mnist": ("https://ossci-datasets.s3.amazonaws.com/mnist/", _MNIST),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", _MNIST),
    "cifar10": ("https://www.cs.toronto.edu/~kriz/", ["cifar-10-python.tar.gz"]),
    "cifar100": ("https://www.cs.toronto.edu/~kriz/", ["cifar-100-python.tar.gz"]),
    "flowers17": ("https://www.robots.ox.ac.uk/~vgg/data/flowers/17/", ["17flowers.tgz"]),
}
FLOWERS17 = ["daffodil", "snowdrop", "lily_valley", "bluebell", "crocus", "iris", "tigerlily", "tulip", "fritillary",
             "sunflower", "daisy", "colts_foot", "dandelion", "cowslip", "buttercup", "windflower", "pansy"]


def download_dataset(name: str, root: str | None = None) -> Path:
    """Fetch `name` into root (default: its default folder) and return the folder to read it from."""
    from torchvision.datasets.utils import download_and_extract_archive, download_url

    if name not in SOURCES:
        raise DataError(unknown_name_message("downloadable dataset", name, [n for n in DATASETS if n in SOURCES]))
    folder = Path(root).expanduser() if root else default_root(name)
    base, files = SOURCES[name]
    try:
        for file in files:
            if file.endswith("gz") and not file.endswith(".tar.gz") and not file.endswith(".tgz"):
                download_url(base + file, folder, file)
            else:
                download_and_extract_archive(base + file, folder, remove_finished=True)
    except OSError as exc:
        raise DataError(f"could not download {name} from {base} ({exc}). Without a network, copy the official "
                        f"files ({', '.join(files)}) into {folder} yourself.") from exc
    if name == "flowers17":
        _sort_flowers(folder)
    return folder


def _sort_flowers(folder: Path) -> None:
    """The archive holds jpg/image_0001..1360.jpg, 80 per class in order; make class folders of them."""
    images = sorted((folder / "jpg").glob("image_*.jpg"))
    for i, path in enumerate(images):
        target = folder / f"{i // 80:02d}_{FLOWERS17[i // 80]}"
        target.mkdir(exist_ok=True)
        shutil.move(str(path), target / path.name)
    shutil.rmtree(folder / "jpg", ignore_errors=True)
