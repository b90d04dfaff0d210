"""The kernels and images of the filter demos: the lecture's 7x7 line filters, named kernels, kernels from
files, scikit-learn's two sample photos and the user's own images (float arrays (H, W, C) in [0, 1])."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnnlab.errors import ConfigError, DataError
from cnnlab.registry import unknown_name_message

SAMPLES = ("china", "flower")  # scikit-learn's load_sample_image("china.jpg"), ("flower.jpg"): 427x640 RGB
MAX_KERNEL = 63  # a bigger kernel is almost surely a wrong file, and its convolution would crawl


def line(size: int, vertical: bool) -> np.ndarray:
    """The lecture's filters: zeros with one line of ones through the middle (column: vertical, row: horizontal)."""
    kernel = np.zeros((size, size), np.float32)
    if vertical:
        kernel[:, size // 2] = 1
    else:
        kernel[size // 2, :] = 1
    return kernel


NAMED = {
    "vertical": lambda: line(7, vertical=True),
    "horizontal": lambda: line(7, vertical=False),
    "sobel-x": lambda: np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32),  # responds to vertical edges
    "sobel-y": lambda: np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], np.float32),  # to horizontal edges
    "laplace": lambda: np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float32),
    "blur": lambda: np.full((5, 5), 1 / 25, np.float32),
    "sharpen": lambda: np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], np.float32),
}
LECTURE = ("vertical", "horizontal")


def kernel_named(spec: str) -> tuple[str, np.ndarray]:
    """(label, kernel (k, k) float32) for a name in NAMED or a .npy / text file holding a square 2-D array."""
    if spec in NAMED:
        return spec, NAMED[spec]()
    path = Path(spec)
    if path.suffix.lower() in (".npy", ".txt", ".csv") or path.exists():
        return path.stem, kernel_file(path)
    raise ConfigError(unknown_name_message("--kernel", spec, list(NAMED)) + " (or pass a .npy or .txt file)")


def kernel_file(path: Path) -> np.ndarray:
    """A square kernel from a .npy file (never unpickled) or a text file of numbers (rows of columns)."""
    if not path.is_file():
        raise DataError(f"kernel file {path} does not exist")
    if path.stat().st_size > 1_000_000:
        raise DataError(f"kernel file {path} is over 1 MB; a kernel is a small square of numbers")
    try:
        if path.suffix.lower() == ".npy":
            array = np.load(path, allow_pickle=False)
        else:
            array = np.loadtxt(path, delimiter="," if path.suffix.lower() == ".csv" else None, ndmin=2)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"cannot read a kernel from {path} ({str(exc)[:160]}); save it with numpy.save or as rows of "
                        "numbers") from None
    array = np.asarray(array)
    if array.dtype.kind not in "biuf":
        raise DataError(f"the kernel in {path} holds {array.dtype}, not numbers")
    array = np.squeeze(array)
    if array.ndim != 2 or array.shape[0] != array.shape[1] or not 1 <= array.shape[0] <= MAX_KERNEL:
        raise DataError(f"the kernel in {path} has shape {array.shape}; it must be square, k x k with k from 1 to "
                        f"{MAX_KERNEL}")
    if not np.isfinite(array).all():
        raise DataError(f"the kernel in {path} holds NaN or infinite values")
    return array.astype(np.float32)


def sample_image(name: str) -> np.ndarray:
    """One of scikit-learn's sample photos as float (H, W, 3) in [0, 1]."""
    from sklearn.datasets import load_sample_image

    return load_sample_image(f"{name}.jpg").astype(np.float32) / 255


def load_picture(spec: str, *, gray: bool = False, max_side: int = 1024) -> tuple[str, np.ndarray]:
    """(label, float (H, W, C) in [0, 1]) for a sample name or an image file, shrunk to `max_side` at most
    (a demo needs no more, and a huge photo would make the convolutions slow)."""
    from PIL import Image

    from cnnlab.data.pixels import open_image

    if spec in SAMPLES:
        array = sample_image(spec)
        img = Image.fromarray(np.round(array * 255).astype(np.uint8))
    else:
        img = open_image(Path(spec), side=max_side)
    if max(img.size) > max_side:
        scale = max_side / max(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                         Image.Resampling.BILINEAR)
    if gray:
        img = img.convert("L")
    array = np.asarray(img, np.float32) / 255
    return (spec if spec in SAMPLES else Path(spec).stem), array.reshape(img.height, img.width, -1)
