"""Download official dataset files when a user asks and a network exists (never in tests).

Only https is used, every file is checked against its published checksum before it is kept (SHA-256 as
torchvision and Keras publish them; Flowers-17 has only the MD5 that torchvision and its authors publish),
and archives are unpacked with the `data` filter, so no member can land outside the target folder.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import urllib.request
from pathlib import Path

from cnnlab.atomic import replacing
from cnnlab.data.config import default_root
from cnnlab.data.datasets import DATASETS
from cnnlab.errors import DataError
from cnnlab.registry import unknown_name_message

# name -> (base URL, {file: (algorithm, hex digest)})
SOURCES: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {
    "mnist": ("https://ossci-datasets.s3.amazonaws.com/mnist/", {
        "train-images-idx3-ubyte.gz": ("sha256", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        "train-labels-idx1-ubyte.gz": ("sha256", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        "t10k-images-idx3-ubyte.gz": ("sha256", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        "t10k-labels-idx1-ubyte.gz": ("sha256", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    }),
    "fashion-mnist": ("https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/", {
        "train-images-idx3-ubyte.gz": ("sha256", "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
        "train-labels-idx1-ubyte.gz": ("sha256", "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
        "t10k-images-idx3-ubyte.gz": ("sha256", "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
        "t10k-labels-idx1-ubyte.gz": ("sha256", "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
    }),
    "cifar10": ("https://www.cs.toronto.edu/~kriz/", {
        "cifar-10-python.tar.gz": ("sha256", "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce")}),
    "cifar100": ("https://www.cs.toronto.edu/~kriz/", {
        "cifar-100-python.tar.gz": ("sha256", "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7")}),
    "flowers17": ("https://www.robots.ox.ac.uk/~vgg/data/flowers/17/", {
        "17flowers.tgz": ("md5", "b59a65d8d1a99cd66944d474e1289eab")}),
}
FLOWERS17 = ["daffodil", "snowdrop", "lily_valley", "bluebell", "crocus", "iris", "tigerlily", "tulip", "fritillary",
             "sunflower", "daisy", "colts_foot", "dandelion", "cowslip", "buttercup", "windflower", "pansy"]
CHUNK = 1 << 20


def fetch_verified(url: str, target: Path, algorithm: str, digest: str) -> None:
    """Stream `url` (https only) into `target`, keeping it only when its checksum is the published one."""
    if not url.startswith("https://"):
        raise DataError(f"refusing to download {url}: only https is used")
    hasher = hashlib.new(algorithm)
    with replacing(target) as tmp:  # kept only when the block ends without an error
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as out:
                while chunk := response.read(CHUNK):
                    hasher.update(chunk)
                    out.write(chunk)
        except OSError as exc:
            raise DataError(f"could not download {url} ({exc})") from exc
        if hasher.hexdigest() != digest:
            raise DataError(f"{url} does not match its published {algorithm.upper()} ({hasher.hexdigest()} instead "
                            f"of {digest}); nothing was kept. Try again later, or copy the official file into "
                            f"{target.parent} yourself")


def extract(archive: Path, folder: Path) -> None:
    """Unpack a tar archive inside `folder`; members that would land outside it, links and devices are refused."""
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(folder, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise DataError(f"cannot unpack {archive}: {exc}") from exc


def download_dataset(name: str, root: str | None = None) -> Path:
    """Fetch `name` into root (default: its default folder) and return the folder to read it from."""
    if name not in SOURCES:
        raise DataError(unknown_name_message("downloadable dataset", name, [n for n in DATASETS if n in SOURCES]))
    folder = Path(root).expanduser() if root else default_root(name)
    made = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    base, files = SOURCES[name]
    for file, (algorithm, digest) in files.items():
        target = folder / file
        try:
            fetch_verified(base + file, target, algorithm, digest)
        except DataError:
            if made and not any(folder.iterdir()):
                folder.rmdir()  # the folder this call made, still empty: nothing is left behind
            raise
        if file.endswith((".tar.gz", ".tgz")):
            extract(target, folder)
            target.unlink()
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
    leftovers = folder / "jpg"
    if leftovers.is_dir() and not any(p.suffix.lower() == ".jpg" for p in leftovers.iterdir()):
        shutil.rmtree(leftovers)  # only the archive's own folder, once its photos have moved
