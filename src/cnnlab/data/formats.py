"""Readers for the official file formats: IDX (MNIST family), CIFAR python pickles, packed-JPEG npz."""

from __future__ import annotations

import codecs
import gzip
import io
import pickle
import struct
from pathlib import Path

import numpy as np
from PIL import Image

from cnnlab.errors import DataError

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped) such as `train-images-idx3-ubyte.gz`."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read IDX file {path}: {exc}") from exc
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DataError(f"{path} is not an IDX file (bad magic number {data[:4].hex()})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path} is truncated inside its header")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise DataError(f"{path} holds {len(data) - header} data bytes but its header {shape} needs {expected}")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def find_file(root: Path, names: list[str]) -> Path | None:
    """The first of `names` (with or without .gz) that exists under root."""
    for name in names:
        for candidate in (root / name, root / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _numpy_reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


class _CifarUnpickler(pickle.Unpickler):
    """Admits only what the official CIFAR pickles hold (dicts, lists, bytes, numbers and numpy arrays); any
    other class or function named in the file (os.system, ...) is refused, so reading data never runs code."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}  # encode: bytes in protocol 2

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"it names {module}.{name}, which a CIFAR file never holds; refusing to "
                                         "load it (a pickle can run code)")
        return {"_reconstruct": _numpy_reconstruct(), "ndarray": np.ndarray, "dtype": np.dtype,
                "encode": codecs.encode}[name]


def load_cifar_pickle(path: Path) -> dict:
    """One official CIFAR python pickle, read without running anything it names."""
    try:
        with open(path, "rb") as f:
            obj = _CifarUnpickler(f, encoding="bytes").load()
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, MemoryError) as exc:
        raise DataError(f"cannot read CIFAR file {path}: {exc}") from exc
    if not isinstance(obj, dict):
        raise DataError(f"{path} is not a CIFAR file (it holds {type(obj).__name__}, not a dict)")
    return obj


def read_cifar_pickles(root: Path, batches: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read CIFAR-10/100 python batches; returns uint8 (N, 32, 32, 3) images and labels."""
    images, labels = [], []
    for name in batches:
        path = root / name
        batch = load_cifar_pickle(path)
        key = b"labels" if b"labels" in batch else b"fine_labels"
        try:
            data = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
            label = np.asarray(batch[key], dtype=np.int64).reshape(-1)
        except (KeyError, ValueError, TypeError) as exc:
            raise DataError(f"{path} does not hold CIFAR data and labels ({type(exc).__name__}: {exc})") from exc
        if len(data) != len(label):
            raise DataError(f"{path} holds {len(data)} images but {len(label)} labels")
        images.append(data)
        labels.append(label)
    return np.concatenate(images), np.concatenate(labels)


def read_cifar_meta(path: Path, key: bytes) -> list[str]:
    meta = load_cifar_pickle(path)
    try:
        return [name.decode() for name in meta[key]]
    except (KeyError, AttributeError, TypeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} holds no class names under {key.decode()!r}") from exc


def read_packed_jpeg(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read an npz of JPEG bytes back to back (`jpeg`, `offsets`, `labels`, `classes`)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            blob, offsets, labels = npz["jpeg"], npz["offsets"], npz["labels"]
            classes = [str(c) for c in npz["classes"]]
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"cannot read packed-JPEG file {path} (needs jpeg, offsets, labels, classes): {exc}") from exc
    images = [decode_image(blob[offsets[i] : offsets[i + 1]].tobytes()) for i in range(len(offsets) - 1)]
    return np.stack(images), labels.astype(np.int64), classes


def decode_image(data: bytes) -> np.ndarray:
    """Decode encoded image bytes to uint8 (H, W, 3) RGB or (H, W) grayscale."""
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("L" if img.mode in ("L", "1", "I;16", "I") else "RGB"))
