"""An index's thumbnails: uint8 (N, T, T, C), kept in memory or memory-mapped from thumbs.npy, and written
to a new generation without gathering them all in memory when an edit keeps some rows and adds others."""

from __future__ import annotations

from typing import BinaryIO

import numpy as np
import torch

from cnnlab.data.images import convert_channels, resize

THUMB_SIZE = 96  # largest thumbnail side kept in the index
CHUNK_ROWS = 2048  # thumbnails copied at once while writing


class ThumbRows:
    """Thumbnails still to be written: rows `rows` of `base` (an array, possibly memory-mapped), then `extra`.
    Only `write_npy` reads them; the saved index memory-maps the written file instead."""

    def __init__(self, base: np.ndarray, rows: np.ndarray, extra: np.ndarray) -> None:
        self.base, self.rows, self.extra = base, np.asarray(rows, np.int64), extra
        if extra.ndim != 4 or (len(self.rows) and extra.shape[1:] != base.shape[1:]):
            raise ValueError(f"new thumbnails {extra.shape} do not match the index's {base.shape}")

    @property
    def shape(self) -> tuple[int, int, int, int]:
        side_c = self.base.shape[1:] if len(self.rows) else self.extra.shape[1:]
        return (len(self), *side_c)

    def __len__(self) -> int:
        return len(self.rows) + len(self.extra)

    def write_npy(self, f: BinaryIO) -> None:
        """The bytes of an .npy file of the (N, T, T, C) uint8 array, a chunk of rows at a time."""
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)), "fortran_order": False,
                  "shape": self.shape}
        np.lib.format.write_array_header_1_0(f, header)
        for start in range(0, len(self.rows), CHUNK_ROWS):
            f.write(np.ascontiguousarray(self.base[self.rows[start:start + CHUNK_ROWS]]))
        if len(self.extra):
            f.write(np.ascontiguousarray(self.extra, dtype=np.uint8))


def write_thumbs(f: BinaryIO, thumbs: np.ndarray | ThumbRows) -> None:
    if isinstance(thumbs, ThumbRows):
        thumbs.write_npy(f)
    else:
        np.save(f, np.asarray(thumbs, np.uint8), allow_pickle=False)


def fit_thumbs(images: torch.Tensor, like: np.ndarray | ThumbRows) -> np.ndarray:
    """uint8 images (N, C, H, W) -> thumbnails uint8 (N, T, T, C) in the format of the index's thumbnails
    `like` (side and channels; an empty index takes the images' channels and side, at most THUMB_SIZE)."""
    if len(like) == 0:
        side, channels = min(images.shape[-1], THUMB_SIZE), images.shape[1]
    else:
        side, channels = like.shape[1], like.shape[3]
    small = convert_channels(resize(images, side) if images.shape[-1] != side else images, channels)
    return small.permute(0, 2, 3, 1).contiguous().numpy()  # (N, T, T, C)
