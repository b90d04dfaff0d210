"""Adding and removing items beside a live index: ids stay each item's own and are never given again, labels,
sources and thumbnails stay with their vectors, the index edited from is left as it was, a crash at any write
of the edit leaves the old or the new index, and folders written before ids existed still load and edit."""

import hashlib
import json
import shutil

import numpy as np
import pytest
import torch

from cnnlab.errors import ConfigError, IndexFolderError
from cnnlab.index.core import EmbeddingIndex
from cnnlab.index.edit import NewItems, edited
from cnnlab.index.filtered import DEDUPE_COSINE, filtered_neighbours
from cnnlab.index.folder import IDS, locate
from tests.index.test_index import filled, unit
from tests.index.test_index_folder import DAMAGES, Killed, crash_at, format1


def new_items(n: int, seed: int = 7, label: str | None = "new") -> NewItems:
    images = torch.full((n, 1, 4, 4), 200, dtype=torch.uint8) + torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1)
    return NewItems(unit(n, 16, seed=seed), [label] * n, [f"upload:{i}.png" for i in range(n)], images)


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_removed_items_go_their_ids_stay_and_parts_stay_aligned(kind):
    index, images = filled(kind, n=300)
    queries = unit(3, 16, seed=3)
    before = index.search(queries, 5)
    change = edited(index, remove=[4, 299, 10_000])
    new = change.index
    assert (change.removed, change.missing) == ([4, 299], [10_000])
    assert len(new) == 298 and len(index) == 300 and np.array_equal(index.search(queries, 5)[1], before[1])
    assert new.row_of(4) is None and new.row_of(5) == 4 and new.row_of(298) == 297
    for item_id in (0, 5, 150, 298):  # each id keeps its own label, source and thumbnail
        row = new.row_of(item_id)
        assert new.item(row).id == item_id and new.item(row).path == f"img{item_id}.png"
        assert new.item(row).label == f"c{item_id % 3}"
    vectors = unit(300, 16)
    hit = new.neighbours(vectors[150:151], 1)[0][0]
    assert hit.id == 150 and hit.score == pytest.approx(1.0, abs=1e-5)
    assert all(n.id not in (4, 299) for n in new.neighbours(vectors[4:5], 5)[0])
    added = edited(new, add=new_items(2))
    assert added.added == [300, 301]  # after the largest id ever given: 299 is not given again
    assert added.index.neighbours(unit(2, 16, seed=7)[1:], 1)[0][0].id == 301


def test_saved_edits_keep_ids_and_thumbnails_and_only_removal_changes_the_format(tmp_path):
    index, images = filled(n=20)
    index.save(tmp_path / "idx")
    grown = edited(EmbeddingIndex.load(tmp_path / "idx"), add=new_items(3)).index
    grown.save(tmp_path / "idx")
    meta = json.loads((tmp_path / "idx" / "meta.json").read_text())
    assert meta["format"] == 2 and IDS not in meta["files"]  # ids are still the rows: earlier cnnlab reads it
    shrunk = edited(EmbeddingIndex.load(tmp_path / "idx"), remove=[0, 21]).index
    shrunk.save(tmp_path / "idx")
    assert isinstance(shrunk.thumbs, np.memmap)  # the written thumbnails are read from the file, not kept
    meta = json.loads((tmp_path / "idx" / "meta.json").read_text())
    assert meta["format"] == 3 and meta["next_id"] == 23 and IDS in meta["files"]
    loaded = EmbeddingIndex.load(tmp_path / "idx")
    assert loaded.ids.tolist() == [*range(1, 21), 22] and loaded.next_id == 23
    assert np.array_equal(loaded.thumbnail(7)[..., 0], images[7, 0].numpy())
    assert loaded.thumbnail(22)[0, 0, 0] == 202 and loaded.item(loaded.row_of(22)).label == "new"
    with pytest.raises(IndexFolderError, match="no gallery item 21"):
        loaded.thumbnail(21)
    emptied = edited(loaded, remove=loaded.ids.tolist()).index
    emptied.save(tmp_path / "idx")
    again = EmbeddingIndex.load(tmp_path / "idx")
    assert len(again) == 0 and again.next_id == 23
    assert edited(again, add=new_items(1)).added == [23]


@pytest.mark.parametrize("layout", ["format 2", "format 1"])
def test_folders_from_before_ids_load_and_edit(tmp_path, layout):
    index, _ = filled(n=10)
    folder = tmp_path / "idx"
    format1(index, folder) if layout == "format 1" else index.save(folder)
    meta = json.loads((folder / "meta.json").read_text())
    assert "next_id" not in meta and IDS not in meta.get("files", {})  # as earlier cnnlab wrote it
    loaded = EmbeddingIndex.load(folder)
    assert loaded.ids.tolist() == list(range(10)) and loaded.next_id == 10
    change = edited(loaded, remove=[9], add=new_items(1))
    assert change.added == [10]
    change.index.save(folder)
    assert EmbeddingIndex.load(folder).ids.tolist() == [*range(9), 10]


def test_a_crash_at_any_write_of_an_edit_leaves_the_old_or_the_new_index(tmp_path, monkeypatch):
    template = tmp_path / "template"
    filled(n=10)[0].save(template)
    queries = unit(2, 16, seed=4)
    step, seen = 0, []
    while True:
        folder = tmp_path / f"crash{step}"
        shutil.copytree(template, folder)
        with monkeypatch.context() as patch:
            done = crash_at(patch, step)
            try:
                edited(EmbeddingIndex.load(folder), remove=[2, 3], add=new_items(1)).index.save(folder)
                finished = True
            except Killed:
                finished = False
        loaded = EmbeddingIndex.load(folder)  # never broken
        old = loaded.ids.tolist() == list(range(10))
        assert old or loaded.ids.tolist() == [0, 1, *range(4, 11)], (step, done)
        seen.append(old)
        assert loaded.search(queries, 3)[1].shape == (2, 3)
        follow = edited(loaded, remove=[0], add=new_items(1, seed=8))
        assert follow.added == [loaded.next_id] and loaded.next_id == (10 if old else 11)
        follow.index.save(folder)  # and it takes the next edit, clearing what the crash left
        assert [p.name for p in folder.iterdir() if p.is_dir()] == [locate(folder).generation]
        if finished:
            break
        step += 1
    assert step >= 8 and seen[0] and not seen[-1] and sorted(seen, reverse=True) == seen


@pytest.mark.parametrize("damage", [*DAMAGES, "decreasing", "beyond next id"])
def test_damaged_ids_are_our_error(tmp_path, damage):
    index = edited(filled(n=10)[0], remove=[3]).index
    index.save(tmp_path / "idx")
    file = locate(tmp_path / "idx").path(IDS)
    if damage in DAMAGES:
        file.write_bytes(DAMAGES[damage](file.read_bytes()))
    else:  # well-formed but wrong: the digest is made to match, so only the id checks can catch it
        ids = np.arange(9)[::-1] if damage == "decreasing" else np.arange(1, 10) * 5
        np.save(file, ids.astype(np.int64))
        meta = json.loads((tmp_path / "idx" / "meta.json").read_text())
        data = file.read_bytes()
        meta["files"][IDS] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        (tmp_path / "idx" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(IndexFolderError, match="corrupt|damaged|ids"):
        EmbeddingIndex.load(tmp_path / "idx")


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_label_filter_and_dedupe(kind):
    index, _ = filled(kind, n=300)
    query = unit(1, 16, seed=11)
    only = filtered_neighbours(index, query, 10, label="c1")
    assert len(only) == 10 and {n.label for n in only} == {"c1"}
    assert only[0].id == next(n.id for n in index.neighbours(query, 300)[0] if n.label == "c1")
    with pytest.raises(ConfigError, match="no class 'c9'.*c0, c1, c2"):
        filtered_neighbours(index, query, 3, label="c9")
    twin = unit(300, 16)[40:41] * 0.999 + unit(1, 16, seed=12) * 0.001  # cosine ~1 to item 40
    twins = edited(index, add=NewItems(np.repeat(twin / np.linalg.norm(twin), 3, axis=0), ["c1"] * 3,
                                       ["a", "b", "c"], torch.zeros(3, 1, 4, 4, dtype=torch.uint8))).index
    plain = filtered_neighbours(twins, unit(300, 16)[40:41], 5)
    assert {n.id for n in plain[:4]} == {40, 300, 301, 302}
    kept = filtered_neighbours(twins, unit(300, 16)[40:41], 5, dedupe=True)
    assert len(kept) == 5 and len({40, 300, 301, 302} & {n.id for n in kept}) == 1
    assert all(n.id not in (300, 301, 302, 40) for n in kept[1:]) and DEDUPE_COSINE == 0.995
