import gzip
import io
import pickle
import struct

import numpy as np
import pytest
from PIL import Image

from cnnlab.data.datasets import DataConfig, load_dataset
from cnnlab.data.formats import read_idx
from cnnlab.errors import DataError, UnknownNameError
from tests.conftest import shared_path


def write_idx(path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_idx_round_trip_and_mnist_layout(tmp_path, digits):
    images, labels = digits
    x = np.kron(images[:200], np.ones((3, 3), np.uint8))  # (200, 24, 24)
    for prefix, sl in (("train", slice(0, 150)), ("t10k", slice(150, 200))):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", x[sl])
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", labels[:200][sl])
    assert np.array_equal(read_idx(tmp_path / "train-images-idx3-ubyte.gz"), x[:150])
    splits = load_dataset(DataConfig("mnist", root=str(tmp_path)))
    assert len(splits.test) == 50 and len(splits.train) + len(splits.val) == 150
    assert splits.train.images.shape[1:] == (1, 24, 24)
    assert np.array_equal(np.sort(splits.test.labels.numpy()), np.sort(labels[150:200]))


def test_idx_bad_magic_and_truncation(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    write_idx(tmp_path / "t.gz", np.zeros((4, 5, 5)))
    with gzip.open(tmp_path / "t.gz") as f:
        data = f.read()
    with gzip.open(tmp_path / "short.gz", "wb") as f:
        f.write(data[:-7])
    with pytest.raises(DataError, match="needs 100"):
        read_idx(tmp_path / "short.gz")


def test_missing_files_name_what_was_expected(tmp_path):
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz.*--data-dir"):
        load_dataset(DataConfig("fashion-mnist", root=str(tmp_path)))
    with pytest.raises(DataError, match="train.npz"):
        load_dataset(DataConfig("cifar10", root=str(tmp_path)))


def test_unknown_dataset_suggests():
    with pytest.raises(UnknownNameError, match="cifar10"):
        load_dataset(DataConfig("cifar-10"))


def test_cifar_pickles_and_packed_jpeg(tmp_path, digits):
    images, labels = digits
    rgb = np.repeat(np.kron(images[:60], np.ones((4, 4), np.uint8))[:, :, :, None], 3, axis=3)  # (60, 32, 32, 3)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    flat = rgb.transpose(0, 3, 1, 2).reshape(60, -1)
    for i in range(1, 6):
        batch = {b"data": flat[(i - 1) * 10 : i * 10], b"labels": labels[(i - 1) * 10 : i * 10].tolist()}
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(batch))
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": flat[50:], b"labels": labels[50:60].tolist()}))
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [str(d).encode() for d in range(10)]}))
    splits = load_dataset(DataConfig("cifar10", root=str(tmp_path), val_fraction=0.2))
    assert splits.test.images.shape == (10, 3, 32, 32)
    assert np.array_equal(splits.test.images.permute(0, 2, 3, 1).numpy(), rgb[50:])

    blobs = []
    for im in rgb:
        buf = io.BytesIO()
        Image.fromarray(im).save(buf, format="JPEG", quality=95)
        blobs.append(np.frombuffer(buf.getvalue(), np.uint8))
    packed = tmp_path / "packed"
    packed.mkdir()
    for name, sl in (("train", slice(0, 50)), ("test", slice(50, 60))):
        sub = blobs[sl]
        offsets = np.concatenate([[0], np.cumsum([len(b) for b in sub])])
        np.savez(packed / f"{name}.npz", jpeg=np.concatenate(sub), offsets=offsets,
                 labels=labels[sl].astype(np.uint8), classes=np.array([str(d) for d in range(10)]))
    splits = load_dataset(DataConfig("cifar10", root=str(packed), val_fraction=0.2))
    diff = np.abs(splits.test.images.permute(0, 2, 3, 1).numpy().astype(int) - rgb[50:].astype(int))
    assert diff.mean() < 3  # JPEG is lossy, but close


@pytest.mark.shared
def test_shared_datasets_read():
    fm = load_dataset(DataConfig("fashion-mnist", root=str(shared_path("fashion-mnist-subset"))))
    assert len(fm.test) == 1000 and len(fm.train) + len(fm.val) == 4343 and fm.train.size == (28, 28)
    flowers = load_dataset(DataConfig("flowers17", root=str(shared_path("flowers17"))))
    assert len(flowers.classes) == 17 and flowers.classes[0] == "daffodil" and flowers.train.size == (64, 64)
    assert len(flowers.train) + len(flowers.val) + len(flowers.test) == 1360


def test_cifar_pickles_cannot_run_code(tmp_path):
    import os
    import pickle

    from cnnlab.data.formats import read_cifar_pickles

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    (tmp_path / "data_batch_1").write_bytes(pickle.dumps({b"data": Evil(), b"labels": [0]}, protocol=2))
    with pytest.raises(DataError, match="refusing to load it"):
        read_cifar_pickles(tmp_path, ["data_batch_1"])
    assert not (tmp_path / "pwned").exists()


def test_cifar_pickles_in_the_official_layout_still_read(tmp_path):
    import pickle

    from cnnlab.data.formats import read_cifar_meta, read_cifar_pickles

    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (5, 3072), dtype=np.uint8)
    (tmp_path / "b").write_bytes(pickle.dumps({b"data": data, b"labels": [1, 2, 3, 4, 5],
                                               b"filenames": [b"a.png"] * 5}, protocol=2))
    (tmp_path / "m").write_bytes(pickle.dumps({b"label_names": [b"cat", b"dog"]}, protocol=2))
    images, labels = read_cifar_pickles(tmp_path, ["b"])
    assert images.shape == (5, 32, 32, 3) and labels.tolist() == [1, 2, 3, 4, 5]
    assert np.array_equal(images[0].transpose(2, 0, 1).reshape(-1), data[0])
    assert read_cifar_meta(tmp_path / "m", b"label_names") == ["cat", "dog"]
    (tmp_path / "list").write_bytes(pickle.dumps([1, 2], protocol=2))
    with pytest.raises(DataError, match="not a CIFAR file"):
        read_cifar_pickles(tmp_path, ["list"])
