"""An embedding index that lives in a folder: faiss vectors plus ids, labels, source paths, thumbnails and
the reference of the model that made the vectors.

Parts: vectors.faiss, labels.npy (int64, -1 = unlabelled), paths.json, thumbs.npy (uint8 (N, T, T, C)),
described by meta.json; how they are laid out and replaced without ever leaving a broken folder is
cnnlab.similarity.folder's. Ids are row numbers 0..N-1.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from pathlib import Path, PurePath

import faiss
import numpy as np
import torch

from cnnlab.data.images import convert_channels, resize
from cnnlab.errors import IndexFolderError
from cnnlab.similarity.folder import REBUILD, Stored, check_size, locate, read_part, write_generation

KINDS = ("auto", "flat", "hnsw", "ivf")
AUTO_EXACT_LIMIT = 100_000  # `auto` searches exactly below this many vectors, with HNSW above
THUMB_SIZE = 96  # largest thumbnail side kept in the index


@dataclass
class Neighbour:
    id: int
    score: float  # inner product of unit vectors: cosine similarity, 1 = identical
    label: str | None
    path: str | None
    match: float | None = None  # share of gallery images no closer to their own nearest neighbour (calibrate)

    def to_dict(self) -> dict:
        return {"id": self.id, "score": self.score, "match": self.match, "label": self.label, "path": self.path}

    def caption(self) -> str:
        """'match 87%' (or the cosine where the gallery gives no calibration)."""
        return f"match {self.match:.0%}" if self.match is not None else f"cosine {self.score:.2f}"


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
        self._origin: tuple[Path, str] | None = None  # (folder, generation) it was loaded from or saved to

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
        # Search effort set on the index rather than passed as `params`: another library in the process (e.g.
        # pytorch-metric-learning through faiss.contrib.torch_utils) may replace faiss's search with one that
        # takes no `params`. Queries are one at a time (the service holds a lock), so this is not shared.
        if self.kind == "hnsw":
            self.index.hnsw.efSearch = max(64, 2 * k)
        elif self.kind == "ivf":
            self.index.nprobe = min(self.index.nlist, max(16, self.index.nlist // 8))
        scores, ids = self.index.search(vectors, k)
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

    # --- the folder (layout and crash safety in cnnlab.similarity.folder) -------------------------------
    def save(self, folder: str | Path) -> Path:
        """Write the index to `folder` as a new generation, switched to atomically. An index loaded from
        this folder is refused if another process has written to the folder since."""
        folder = Path(folder)
        same_folder = self._origin is not None and folder.resolve() == self._origin[0]
        meta = {"kind": self.kind, "metric": "inner_product", "dim": self.dim, "count": len(self),
                "embedder": self.embedder, "classes": self.classes, "read_size": self.read_size}
        parts = {
            "vectors.faiss": lambda f: f.write(faiss.serialize_index(self.index)),
            "labels.npy": lambda f: np.save(f, np.asarray(self.labels, np.int64), allow_pickle=False),
            "thumbs.npy": lambda f: np.save(f, np.asarray(self.thumbs, np.uint8), allow_pickle=False),
            "paths.json": lambda f: f.write(json.dumps(self.paths).encode()),
        }
        generation = write_generation(folder, parts, meta, expect=self._origin[1] if same_folder else None)
        self._origin = (folder.resolve(), generation)
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> EmbeddingIndex:
        """The index in `folder`; IndexFolderError, saying what to do, for a missing, damaged or foreign one."""
        folder = Path(folder)
        for _ in range(3):
            stored = locate(folder)
            try:
                return cls._from_stored(stored)
            except FileNotFoundError as exc:
                if locate(folder).generation == stored.generation:  # else a writer switched it meanwhile: again
                    raise IndexFolderError(f"index folder {folder} is incomplete ({exc.filename} is missing); "
                                           f"{REBUILD}") from exc
        raise IndexFolderError(f"{folder} keeps changing while it is read; try again when its writer is done")

    @classmethod
    def _from_stored(cls, stored: Stored) -> EmbeddingIndex:
        meta = check_meta(stored)
        try:
            index = faiss.deserialize_index(np.frombuffer(read_part(stored, "vectors.faiss"), np.uint8))
            labels = np.load(io.BytesIO(read_part(stored, "labels.npy")), allow_pickle=False)
            paths = json.loads(read_part(stored, "paths.json"))
            check_size(stored, "thumbs.npy")
            thumbs = np.load(stored.path("thumbs.npy"), mmap_mode="r", allow_pickle=False)
        except FileNotFoundError:
            raise
        except (OSError, ValueError, RuntimeError, EOFError, MemoryError) as exc:
            raise IndexFolderError(f"index folder {stored.folder} is corrupt ({type(exc).__name__}: "
                                   f"{str(exc)[:200]}); {REBUILD}") from exc
        check_parts(stored.folder, meta, index, labels, paths, thumbs)
        loaded = cls(index, meta["embedder"], list(meta["classes"]), labels.astype(np.int64), paths, thumbs,
                     meta.get("read_size"))
        loaded._origin = (stored.folder.resolve(), stored.generation)
        return loaded


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


def describe_embedder(ref: dict, *, public: bool = False) -> str:
    """What made an index's vectors, in words; `public` names a run by its folder name only (no paths for
    the service's visitors)."""
    if ref.get("kind") == "pixels":
        return f"raw pixels of {ref['channels']}x{ref['image_size']}x{ref['image_size']} images"
    if ref.get("kind") == "run":
        run = PurePath(str(ref.get("run"))).name if public else ref.get("run")
        return f"the {ref.get('method')} model {ref.get('model')} of run {run}"
    if ref.get("kind") == "pretrained":
        return f"ImageNet features of {ref.get('model')} (pretrained, no training)"
    return f"an {ref.get('kind')} model"
