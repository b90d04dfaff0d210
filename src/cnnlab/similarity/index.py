"""An embedding index that lives in a folder: faiss vectors plus ids, labels, source paths, thumbnails and
the reference of the model that made the vectors.

Folder layout: meta.json (written last, so a half-written folder is detected), vectors.faiss, labels.npy
(int64, -1 = unlabelled), paths.json, thumbs.npy (uint8 (N, T, T, C)). Ids are row numbers 0..N-1.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import torch

from cnnlab.data.images import convert_channels, resize
from cnnlab.errors import IndexFolderError

FORMAT = 1
KINDS = ("auto", "flat", "hnsw", "ivf")
AUTO_EXACT_LIMIT = 100_000  # `auto` searches exactly below this many vectors, with HNSW above
THUMB_SIZE = 96  # largest thumbnail side kept in the index


@dataclass
class Neighbour:
    id: int
    score: float  # inner product of unit vectors: cosine similarity, 1 = identical
    label: str | None
    path: str | None

    def to_dict(self) -> dict:
        return {"id": self.id, "score": self.score, "label": self.label, "path": self.path}


def new_faiss_index(kind: str, dim: int, n_expected: int) -> faiss.Index:
    """An empty inner-product index; `ivf` still needs training."""
    if kind == "auto":
        kind = "flat" if n_expected < AUTO_EXACT_LIMIT else "hnsw"
    if kind == "flat":
        return faiss.IndexFlatIP(dim)
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        return index
    if kind == "ivf":
        nlist = max(1, min(4 * int(math.sqrt(max(n_expected, 1))), n_expected // 39 or 1))
        return faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    raise IndexFolderError(f"unknown index kind {kind!r}; choose one of {', '.join(KINDS)}")


def kind_of(index: faiss.Index) -> str:
    if isinstance(index, faiss.IndexHNSWFlat):
        return "hnsw"
    if isinstance(index, faiss.IndexIVFFlat):
        return "ivf"
    return "flat"


class EmbeddingIndex:
    """Unit vectors searched by inner product, with what each vector came from."""

    def __init__(self, index: faiss.Index, embedder: dict, classes: list[str], labels: np.ndarray,
                 paths: list[str | None], thumbs: np.ndarray, read_size: int | None = None) -> None:
        self.index, self.embedder, self.classes = index, embedder, classes
        self.read_size = read_size  # side the gallery images were read at before embedding; queries match it
        self.labels, self.paths, self.thumbs = labels, paths, thumbs

    @classmethod
    def create(cls, dim: int, embedder: dict, *, kind: str = "auto", n_expected: int = 0,
               read_size: int | None = None) -> EmbeddingIndex:
        return cls(new_faiss_index(kind, dim, n_expected), embedder, [], np.zeros(0, np.int64), [],
                   np.zeros((0, 1, 1, 1), np.uint8), read_size)

    def __len__(self) -> int:
        return self.index.ntotal

    @property
    def dim(self) -> int:
        return self.index.d

    @property
    def kind(self) -> str:
        return kind_of(self.index)

    def add(self, vectors: np.ndarray, labels: list[str | None], paths: list[str | None],
            images: torch.Tensor, classes: list[str] = ()) -> None:
        """Append vectors (N, dim) float32 with each one's class name (or None), source and image
        (uint8 (N, C, H, W), kept as a thumbnail). New class names are numbered in the order of `classes`,
        then in order of appearance."""
        vectors = self._check_vectors(vectors)
        if not (len(vectors) == len(labels) == len(paths) == len(images)):
            raise ValueError("vectors, labels, paths and images must have the same length")
        if not self.index.is_trained:
            self.index.train(vectors)
        self.index.add(vectors)
        for name in [*classes, *labels]:
            if name is not None and name not in self.classes:
                self.classes.append(name)
        ids = [self.classes.index(n) if n is not None else -1 for n in labels]
        self.labels = np.concatenate([self.labels, np.array(ids, np.int64)])
        self.paths = self.paths + list(paths)
        self.thumbs = self._add_thumbs(images)

    def _add_thumbs(self, images: torch.Tensor) -> np.ndarray:
        if len(self.thumbs) == 0:
            side, channels = min(images.shape[-1], THUMB_SIZE), images.shape[1]
        else:
            side, channels = self.thumbs.shape[1], self.thumbs.shape[3]
        small = convert_channels(resize(images, side) if images.shape[-1] != side else images, channels)
        new = small.permute(0, 2, 3, 1).contiguous().numpy()  # (N, T, T, C)
        return new if len(self.thumbs) == 0 else np.concatenate([self.thumbs, new])

    def _check_vectors(self, vectors: np.ndarray) -> np.ndarray:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise IndexFolderError(f"vectors of shape {tuple(vectors.shape)} do not fit this index of "
                                   f"{self.dim}-dimensional vectors (made by {describe_embedder(self.embedder)})")
        return vectors

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores and ids (Q, k) of the k nearest vectors, best first."""
        vectors = self._check_vectors(vectors)
        if len(self) == 0:
            raise IndexFolderError("the index is empty; add images with `cnnlab similarity index ... --append`")
        if not 1 <= k <= len(self):
            raise IndexFolderError(f"k={k} but the gallery holds {len(self)} images; ask for 1 to {len(self)}")
        params = None
        if self.kind == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=max(64, 2 * k))
        elif self.kind == "ivf":
            params = faiss.SearchParametersIVF(nprobe=min(self.index.nlist, max(16, self.index.nlist // 8)))
        scores, ids = self.index.search(vectors, k, params=params)
        return scores, ids

    def neighbours(self, vectors: np.ndarray, k: int) -> list[list[Neighbour]]:
        scores, ids = self.search(vectors, k)
        return [[self.item(int(i), float(s)) for s, i in zip(row_s, row_i, strict=True) if i >= 0]
                for row_s, row_i in zip(scores, ids, strict=True)]

    def item(self, i: int, score: float = float("nan")) -> Neighbour:
        label = int(self.labels[i])
        return Neighbour(i, score, self.classes[label] if label >= 0 else None, self.paths[i])

    def thumbnail(self, i: int) -> np.ndarray:
        """uint8 (T, T, C) of gallery item i; IndexFolderError for an id outside the gallery."""
        if not 0 <= i < len(self):
            raise IndexFolderError(f"no gallery item {i}; ids run from 0 to {len(self) - 1}")
        return self.thumbs[i]

    # --- the folder ---------------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        _replace(folder / "vectors.faiss", lambda p: faiss.write_index(self.index, str(p)))
        _replace(folder / "labels.npy", lambda p: _save_npy(p, self.labels))
        _replace(folder / "thumbs.npy", lambda p: _save_npy(p, self.thumbs))
        _replace(folder / "paths.json", lambda p: p.write_text(json.dumps(self.paths)))
        meta = {"format": FORMAT, "kind": self.kind, "metric": "inner_product", "dim": self.dim, "count": len(self),
                "embedder": self.embedder, "classes": self.classes, "read_size": self.read_size}
        _replace(folder / "meta.json", lambda p: p.write_text(json.dumps(meta, indent=2)))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> EmbeddingIndex:
        folder = Path(folder)
        if not folder.is_dir():
            raise IndexFolderError(f"index folder {folder} does not exist; build one with `cnnlab similarity index`")
        if not (folder / "meta.json").is_file():
            raise IndexFolderError(f"{folder} is not an index folder (no meta.json); build one with "
                                   "`cnnlab similarity index RUN --images DATA --out FOLDER`")
        try:
            meta = json.loads((folder / "meta.json").read_text())
            index = faiss.read_index(str(folder / "vectors.faiss"))
            labels = np.load(folder / "labels.npy")
            thumbs = np.load(folder / "thumbs.npy", mmap_mode="r")
            paths = json.loads((folder / "paths.json").read_text())
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise IndexFolderError(f"index folder {folder} is corrupt ({type(exc).__name__}: {exc}); "
                                   "rebuild it with `cnnlab similarity index`") from exc
        if meta.get("format") != FORMAT:
            raise IndexFolderError(f"{folder} has index format {meta.get('format')}, this cnnlab reads {FORMAT}")
        counts = {"vectors": index.ntotal, "labels": len(labels), "thumbnails": len(thumbs), "paths": len(paths),
                  "meta.json": meta["count"]}
        if len(set(counts.values())) != 1 or index.d != meta["dim"]:
            raise IndexFolderError(f"index folder {folder} is corrupt: its parts disagree on the number of items "
                                   f"({counts}); rebuild it with `cnnlab similarity index`")
        return cls(index, meta["embedder"], list(meta["classes"]), labels.astype(np.int64), paths, thumbs,
                   meta.get("read_size"))


def _replace(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:  # a file object: np.save would add ".npy" to the temporary name
        np.save(f, np.asarray(array))


def describe_embedder(ref: dict) -> str:
    if ref.get("kind") == "pixels":
        return f"raw pixels of {ref['channels']}x{ref['image_size']}x{ref['image_size']} images"
    if ref.get("kind") == "run":
        return f"the {ref.get('method')} model {ref.get('model')} of run {ref.get('run')}"
    return f"an {ref.get('kind')} model"
