"""An embedding index that lives in a folder: faiss vectors plus ids, labels, source paths, thumbnails and
the reference of the model that made the vectors.

Parts: vectors.faiss, labels.npy (int64, -1 = unlabelled), paths.json, thumbs.npy (uint8 (N, T, T, C)),
and ids.npy once an item has been removed, described by meta.json; how they are laid out and replaced
without ever leaving a broken folder is cnnlab.index.folder's.

Every item has an id that stays its own: ids increase in row order, new items take the next id after the
largest ever given (meta.json's next_id), and a removed item's id is never given again. Until the first
removal the ids are the row numbers 0..N-1 (and no ids.npy is written). faiss itself numbers rows.
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

from cnnlab.errors import IndexFolderError
from cnnlab.index.check import check_ids, check_meta, check_parts
from cnnlab.index.folder import IDS, REBUILD, Stored, check_size, locate, read_part, write_generation
from cnnlab.index.thumbs import ThumbRows, fit_thumbs, write_thumbs

KINDS = ("auto", "flat", "hnsw", "ivf")
AUTO_EXACT_LIMIT = 100_000  # `auto` searches exactly below this many vectors, with HNSW above
MAX_ID = 2**62  # item ids stay below this


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
                 paths: list[str | None], thumbs: np.ndarray | ThumbRows, read_size: int | None = None, *,
                 ids: np.ndarray | None = None, next_id: int | None = None) -> None:
        self.index, self.embedder, self.classes = index, embedder, classes
        self.read_size = read_size  # side the gallery images were read at before embedding; queries match it
        self.labels, self.paths, self.thumbs = labels, paths, thumbs
        self.ids = np.arange(len(labels), dtype=np.int64) if ids is None else ids  # (N,) int64, increasing
        self.next_id = len(labels) if next_id is None else next_id  # the id the next new item gets
        self._origin: tuple[Path, str] | None = None  # (folder, generation) it was loaded from or saved to

    def with_parts(self, index: faiss.Index, classes: list[str], labels: np.ndarray, paths: list[str | None],
                   thumbs: np.ndarray | ThumbRows, ids: np.ndarray, next_id: int) -> EmbeddingIndex:
        """A new index of the same model and folder (a save checks that the folder has not changed since this
        one was read) holding the parts given; this one is left as it is."""
        new = EmbeddingIndex(index, self.embedder, classes, labels, paths, thumbs, self.read_size, ids=ids,
                             next_id=next_id)
        new._origin = self._origin
        return new

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
        vectors = self.check_vectors(vectors)
        if not (len(vectors) == len(labels) == len(paths) == len(images)):
            raise ValueError("vectors, labels, paths and images must have the same length")
        if not self.index.is_trained:
            self.index.train(vectors)
        self.index.add(vectors)
        for name in [*classes, *labels]:
            if name is not None and name not in self.classes:
                self.classes.append(name)
        numbers = [self.classes.index(n) if n is not None else -1 for n in labels]
        self.labels = np.concatenate([self.labels, np.array(numbers, np.int64)])
        self.paths = self.paths + list(paths)
        new = fit_thumbs(images, self.thumbs)
        self.thumbs = new if len(self.thumbs) == 0 else np.concatenate([self.thumbs, new])
        self.ids = np.concatenate([self.ids, np.arange(self.next_id, self.next_id + len(vectors), dtype=np.int64)])
        self.next_id += len(vectors)

    @property
    def ids_are_rows(self) -> bool:
        """Whether every id is its row number (no item was ever removed)."""
        return self.next_id == len(self) and (len(self) == 0 or int(self.ids[-1]) == len(self) - 1)

    def row_of(self, item_id: int) -> int | None:
        """The row of item `item_id`, or None when the index does not hold it (never did, or it was removed)."""
        if not 0 <= item_id < min(self.next_id, MAX_ID):
            return None
        row = int(np.searchsorted(self.ids, item_id))
        return row if row < len(self.ids) and int(self.ids[row]) == item_id else None

    def check_vectors(self, vectors: np.ndarray) -> np.ndarray:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise IndexFolderError(f"vectors of shape {tuple(vectors.shape)} do not fit this index of "
                                   f"{self.dim}-dimensional vectors (made by {describe_embedder(self.embedder)})")
        return vectors

    def search(self, vectors: np.ndarray, k: int, *, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Scores and rows (Q, k) of the k nearest vectors, best first; with `rows`, among those rows only (row
        -1 fills the places of neighbours not found)."""
        vectors = self.check_vectors(vectors)
        if len(self) == 0:
            raise IndexFolderError("the index is empty; add images with `cnnlab similarity index ... --append`")
        if not 1 <= k <= len(self):
            raise IndexFolderError(f"k={k} but the gallery holds {len(self)} images; ask for 1 to {len(self)}")
        return faiss_search(self.index, vectors, k, rows)

    def neighbours(self, vectors: np.ndarray, k: int) -> list[list[Neighbour]]:
        scores, ids = self.search(vectors, k)
        return [[self.item(int(i), float(s)) for s, i in zip(row_s, row_i, strict=True) if i >= 0]
                for row_s, row_i in zip(scores, ids, strict=True)]

    def item(self, row: int, score: float = float("nan")) -> Neighbour:
        """The item in row `row` (its id, class name and source)."""
        label = int(self.labels[row])
        return Neighbour(int(self.ids[row]), score, self.classes[label] if label >= 0 else None, self.paths[row])

    def thumbnail(self, item_id: int) -> np.ndarray:
        """uint8 (T, T, C) of item `item_id`; IndexFolderError for an id the gallery does not hold."""
        row = self.row_of(item_id)
        if row is None:
            raise IndexFolderError(f"no gallery item {item_id}; the gallery holds {len(self)} items")
        return self.thumbs[row]

    # --- the folder (layout and crash safety in cnnlab.index.folder) -------------------------------
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
            "thumbs.npy": lambda f: write_thumbs(f, self.thumbs),
            "paths.json": lambda f: f.write(json.dumps(self.paths).encode()),
        }
        if not self.ids_are_rows:
            meta["next_id"] = self.next_id
            parts[IDS] = lambda f: np.save(f, np.asarray(self.ids, np.int64), allow_pickle=False)
        generation = write_generation(folder, parts, meta, expect=self._origin[1] if same_folder else None)
        self._origin = (folder.resolve(), generation)
        if isinstance(self.thumbs, ThumbRows):  # written out: read from the file from now on, not kept in memory
            self.thumbs = np.load(folder / generation / "thumbs.npy", mmap_mode="r", allow_pickle=False)
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
            ids = np.load(io.BytesIO(read_part(stored, IDS)), allow_pickle=False) if IDS in meta.get("files", {}) \
                else None
        except FileNotFoundError:
            raise
        except (OSError, ValueError, RuntimeError, EOFError, MemoryError) as exc:
            raise IndexFolderError(f"index folder {stored.folder} is corrupt ({type(exc).__name__}: "
                                   f"{str(exc)[:200]}); {REBUILD}") from exc
        check_parts(stored.folder, meta, index, labels, paths, thumbs)
        if ids is not None:
            check_ids(stored.folder, meta, ids)
        loaded = cls(index, meta["embedder"], list(meta["classes"]), labels.astype(np.int64), paths, thumbs,
                     meta.get("read_size"), ids=None if ids is None else ids.astype(np.int64),
                     next_id=meta.get("next_id", meta["count"]))
        loaded._origin = (stored.folder.resolve(), stored.generation)
        return loaded


def faiss_search(index: faiss.Index, vectors: np.ndarray, k: int,
                 rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """faiss's search with its effort (and the rows to search among) passed per call: nothing is set on the
    index, which searches running side by side share. The SWIG method is called directly because another
    library in the process (pytorch-metric-learning, through faiss.contrib.torch_utils) may replace
    `index.search` with one that takes no parameters."""
    kind = kind_of(index)
    if kind == "hnsw":
        params = faiss.SearchParametersHNSW(efSearch=max(64, 2 * k))
    elif kind == "ivf":
        params = faiss.SearchParametersIVF(nprobe=min(index.nlist, max(16, index.nlist // 8)))
    else:
        params = faiss.SearchParameters()
    selector = faiss.IDSelectorBatch(np.ascontiguousarray(rows, np.int64)) if rows is not None else None
    if selector is not None:
        params.sel = selector  # held by `selector` until the search is done
    scores, found = np.empty((len(vectors), k), np.float32), np.empty((len(vectors), k), np.int64)  # (Q, k)
    index.search_c(len(vectors), faiss.swig_ptr(vectors), k, faiss.swig_ptr(scores), faiss.swig_ptr(found), params)
    return scores, found


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
