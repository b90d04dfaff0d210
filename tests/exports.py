"""Helpers for the export tests of every task: a one-thread setting for small nets on a shared 2-core machine,
images of several sizes to predict on, and an ONNX export made wrong on purpose."""

import copy

import numpy as np
import torch
from PIL import Image


def one_thread():
    """Two threads on a 2-core machine that other processes share run these small nets several times slower than
    one (see tests/localize/test_localize.py)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def image_folder(root, digits, mode: str = "L", sizes=((40, 30), (32, 32), (21, 57), (64, 48))):
    """Real images (scikit-learn's digits) at several sizes, none the model's, as PNGs in root/images."""
    folder = root / "images"
    folder.mkdir()
    for i, size in enumerate(sizes):
        Image.fromarray(digits[0][i]).resize(size, Image.Resampling.BILINEAR).convert(mode).save(folder / f"{i}.png")
    return folder


def break_onnx_exports(monkeypatch) -> None:
    """Every ONNX file `cnnlab export` writes from now on holds the model with noise on its weights: what a broken
    exporter or a wrong preprocessing would do to the file, which the parity check has to catch."""
    import cnnlab.models.export_check as check

    real = check.to_onnx

    def broken(module, *args, **kwargs):
        bad = copy.deepcopy(module)
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for p in bad.parameters():
                p.add_(torch.randn(p.shape, generator=generator) * (float(p.std()) if p.numel() > 1 else 0.1) * 0.5)
        real(bad, *args, **kwargs)

    monkeypatch.setattr(check, "to_onnx", broken)


def mask_pngs(folder) -> dict[str, np.ndarray]:
    return {p.name: np.asarray(Image.open(p)) for p in sorted(folder.glob("*_mask.png"))}
