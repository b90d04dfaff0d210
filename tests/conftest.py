import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ["CNNLAB_OFFLINE"] = "1"  # no test ever reaches for the model hub
if os.environ.get("PYTEST_XDIST_WORKER"):  # pytest -n 2: one thread per worker, so two workers share two cores
    os.environ.setdefault("OMP_NUM_THREADS", "1")
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_path(name: str) -> Path:
    """A folder of ../shared/data, or skip the test when it is absent."""
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"{path} is not here (the shared data sets are optional)")
    return path


@pytest.fixture(scope="session")
def digits():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return np.round(bunch.images * 255 / 16).astype(np.uint8), bunch.target


@pytest.fixture
def digit_folder(tmp_path, digits):
    """A real image folder: 3 classes of digits as 16x16 PNGs, 20 each."""
    images, labels = digits
    root = tmp_path / "digits"
    for cls in (0, 1, 2):
        (root / f"class{cls}").mkdir(parents=True)
        for k, i in enumerate(np.flatnonzero(labels == cls)[:20]):
            Image.fromarray(images[i]).resize((16, 16)).save(root / f"class{cls}" / f"{k}.png")
    return root


def digit_masks(root: Path, images: np.ndarray, count: int, mask, size: int = 32) -> Path:
    """root/images/dNN.png: the first `count` real digits at `size` px (bicubic), and root/masks/dNN.png:
    `mask(pixels)` of each (uint8 class values), the layout `--data folder:ROOT` of segment reads."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(count):
        big = Image.fromarray(images[i]).resize((size, size), Image.BICUBIC)
        big.save(root / "images" / f"d{i:02d}.png")
        Image.fromarray(mask(np.asarray(big)).astype(np.uint8)).save(root / "masks" / f"d{i:02d}.png")
    return root
