"""The checks an index folder's parts pass on load, before anything relies on them: meta.json's fields, then
the parts' shapes and types and their agreement with meta.json and with each other."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

from cnnlab.errors import IndexFolderError
from cnnlab.index.folder import REBUILD, Stored


def check_meta(stored: Stored) -> dict:
    """meta.json's fields, checked for type and range before anything relies on them."""
    meta, where = stored.meta, stored.folder / "meta.json"

    def need(ok: bool, what: str) -> None:
        if not ok:
            raise IndexFolderError(f"{where} is damaged: {what}; {REBUILD}")

    need(_is_int(meta.get("count")) and meta["count"] >= 0, "no item count")
    need(_is_int(meta.get("dim")) and meta["dim"] >= 1, "no vector size")
    classes, ref = meta.get("classes"), meta.get("embedder")
    need(isinstance(classes, list) and all(isinstance(c, str) for c in classes), "the class names are not a list")
    need(isinstance(ref, dict) and isinstance(ref.get("kind"), str), "no embedder")
    if ref["kind"] == "pixels":
        need(ref.get("channels") in (1, 3) and _is_int(ref.get("image_size")) and 1 <= ref["image_size"] <= 4096,
             "a pixel embedder without its channels and image size")
    if ref["kind"] == "run":
        need(isinstance(ref.get("run"), str) and isinstance(ref.get("checkpoint"), str),
             "a run embedder without its run folder and checkpoint digest")
    read_size = meta.get("read_size")
    need(read_size is None or (_is_int(read_size) and 1 <= read_size <= 4096), "a read size outside 1..4096")
    next_id = meta.get("next_id", meta["count"])
    need(_is_int(next_id) and meta["count"] <= next_id < 2**62, "a next item id below the item count")
    return meta


def check_parts(folder: Path, meta: dict, index: faiss.Index, labels: np.ndarray, paths: object,
                thumbs: np.ndarray) -> None:
    """The parts agree with meta.json and with each other, with the shapes and types readers expect."""
    def need(ok: bool, what: str) -> None:
        if not ok:
            raise IndexFolderError(f"index folder {folder} is corrupt: {what}; {REBUILD}")

    need(labels.ndim == 1 and labels.dtype.kind in "iu", "labels.npy is not a list of class numbers")
    need(labels.size == 0 or (int(labels.min()) >= -1 and int(labels.max()) < len(meta["classes"])),
         "labels.npy names classes meta.json does not have")
    need(isinstance(paths, list) and all(p is None or isinstance(p, str) for p in paths),
         "paths.json is not a list of sources")
    need(thumbs.ndim == 4 and thumbs.dtype == np.uint8 and thumbs.shape[3] in (1, 3),
         "thumbs.npy is not uint8 (N, T, T, 1 or 3)")
    counts = {"vectors": index.ntotal, "labels": len(labels), "thumbnails": len(thumbs), "paths": len(paths),
              "meta.json": meta["count"]}
    need(len(set(counts.values())) == 1, f"its parts disagree on the number of items ({counts})")
    need(index.d == meta["dim"], f"vectors.faiss holds {index.d}-d vectors where meta.json says {meta['dim']}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_ids(folder: Path, meta: dict, ids: np.ndarray) -> None:
    """Item ids (format 3): int64, increasing (so never two alike) and below meta.json's next id."""
    def need(ok: bool, what: str) -> None:
        if not ok:
            raise IndexFolderError(f"index folder {folder} is corrupt: {what}; {REBUILD}")

    need(ids.ndim == 1 and ids.dtype.kind in "iu", "ids.npy is not a list of item ids")
    need(len(ids) == meta["count"], f"ids.npy holds {len(ids)} ids for {meta['count']} items")
    need(ids.size == 0 or (int(ids[0]) >= 0 and int(ids[-1]) < meta.get("next_id", meta["count"])),
         "ids.npy holds ids outside 0 .. next id")
    need(bool(np.all(np.diff(ids) > 0)), "ids.npy is not in increasing order")
