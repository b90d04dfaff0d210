"""An index folder survives a crash at any write, refuses damaged parts with our error, and keeps reading
folders of the first format."""

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from cnnlab.errors import IndexFolderError
from cnnlab.index import folder as folder_module
from cnnlab.index.core import EmbeddingIndex
from cnnlab.index.folder import PARTS, locate
from tests.index.test_index import filled, unit

ROOT = Path(__file__).resolve().parents[2]
STEPS = ("_make_dir", "_write_part", "_replace", "_remove")


class Killed(BaseException):
    """Stands for the process dying: no `except Exception` in cnnlab catches it."""


def format1(index: EmbeddingIndex, path):
    """The folder the first cnnlab wrote: the parts beside a meta.json of format 1."""
    index.save(path)
    stored = locate(path)
    for part in PARTS:
        shutil.move(stored.path(part), path / part)
    shutil.rmtree(path / stored.generation)
    meta = {k: v for k, v in stored.meta.items() if k not in ("generation", "files")}
    (path / "meta.json").write_text(json.dumps({**meta, "format": 1}))
    return path


def appended(path, seed=9):
    """Load the index in `path`, add 3 vectors and save it back (an `index --append`)."""
    index = EmbeddingIndex.load(path)
    index.add(unit(3, 16, seed=seed), ["new", None, "c1"], ["a.png", "b.png", "c.png"],
              torch.zeros(3, 1, 4, 4, dtype=torch.uint8))
    index.save(path)
    return index


def crash_at(monkeypatch, step: int) -> list[str]:
    """Make the `step`-th disk change of the next writes raise Killed; returns the log of changes done."""
    done = []
    for name in STEPS:
        real = getattr(folder_module, name)

        def counted(*args, _real=real, _name=name):
            if len(done) == step:
                raise Killed(f"killed before {_name}{args}")
            done.append(_name)
            return _real(*args)

        monkeypatch.setattr(folder_module, name, counted)
    return done


@pytest.mark.parametrize("layout", ["format 2", "format 1"])
def test_a_crash_at_any_write_of_an_append_leaves_the_old_or_the_new_index(tmp_path, monkeypatch, layout):
    original, _ = filled(n=10)
    template = tmp_path / "template"
    format1(original, template) if layout == "format 1" else original.save(template)
    queries = unit(2, 16, seed=4)
    expected = original.search(queries, 3)
    counts, step = [], 0
    while True:
        folder = tmp_path / f"crash{step}"
        shutil.copytree(template, folder)
        with monkeypatch.context() as patch:
            done = crash_at(patch, step)
            try:
                appended(folder)
                finished = True
            except Killed:
                finished = False
        loaded = EmbeddingIndex.load(folder)  # never broken: the old index or the new one
        counts.append(len(loaded))
        assert len(loaded) in (10, 13), (step, done)
        scores, ids = loaded.search(queries, 3)
        assert np.array_equal(ids, expected[1]) or len(loaded) == 13
        assert appended(folder, seed=10) is not None  # and it takes the next append
        again = EmbeddingIndex.load(folder)
        assert len(again) == len(loaded) + 3
        generations = [p.name for p in folder.iterdir() if p.is_dir()]
        assert generations == [locate(folder).generation], generations  # a crash's leftovers are cleared
        assert not any((folder / part).exists() for part in PARTS)
        if finished:
            break
        step += 1
    assert step >= 8, "every write step was interrupted once"
    assert counts[0] == 10 and counts[-1] == 13 and sorted(counts) == counts  # old until the switch, new after


def test_a_killed_process_leaves_a_usable_index(tmp_path):
    """The same with a real process killed (os._exit) while it writes the new generation's thumbnails."""
    original, _ = filled(n=10)
    original.save(tmp_path / "idx")
    script = textwrap.dedent(f"""
        import os, torch
        from cnnlab.index import folder
        from cnnlab.index.core import EmbeddingIndex
        from tests.index.test_index import unit
        real = folder._write_part
        def dying(path, writer):
            if path.name == "thumbs.npy":
                with open(path, "wb") as f:
                    f.write(b"half a file")
                os._exit(9)
            return real(path, writer)
        folder._write_part = dying
        index = EmbeddingIndex.load({str(tmp_path / "idx")!r})
        index.add(unit(3, 16, seed=9), ["x"] * 3, ["p"] * 3, torch.zeros(3, 1, 4, 4, dtype=torch.uint8))
        index.save({str(tmp_path / "idx")!r})
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 9, done.stderr
    assert len([p for p in (tmp_path / "idx").iterdir() if p.is_dir()]) == 2  # the old and the half-written one
    loaded = EmbeddingIndex.load(tmp_path / "idx")
    assert len(loaded) == 10 and loaded.search(unit(1, 16), 2)[1].shape == (1, 2)
    appended(tmp_path / "idx")
    assert len(EmbeddingIndex.load(tmp_path / "idx")) == 13


def test_format1_folders_are_read_and_moved_on_append_leaving_other_files(tmp_path):
    original, images = filled(n=10)
    path = format1(original, tmp_path / "idx")
    (path / "notes.txt").write_text("mine")
    loaded = EmbeddingIndex.load(path)
    assert len(loaded) == 10 and loaded.item(4).path == "img4.png"
    assert np.array_equal(loaded.thumbnail(3)[..., 0], images[3, 0].numpy())
    appended(path)
    assert len(EmbeddingIndex.load(path)) == 13 and json.loads((path / "meta.json").read_text())["format"] == 2
    assert not any((path / part).exists() for part in PARTS) and (path / "notes.txt").read_text() == "mine"


def test_an_old_generation_holding_a_foreign_file_keeps_it(tmp_path):
    filled(n=10)[0].save(tmp_path / "idx")
    old = tmp_path / "idx" / locate(tmp_path / "idx").generation
    (old / "keep.txt").write_text("not cnnlab's")
    appended(tmp_path / "idx")
    assert sorted(p.name for p in old.iterdir()) == ["keep.txt"]


def test_two_appends_at_once_cannot_lose_one(tmp_path):
    filled(n=10)[0].save(tmp_path / "idx")
    first, second = EmbeddingIndex.load(tmp_path / "idx"), EmbeddingIndex.load(tmp_path / "idx")
    for index in (first, second):
        index.add(unit(1, 16), ["c0"], ["x.png"], torch.zeros(1, 1, 4, 4, dtype=torch.uint8))
    first.save(tmp_path / "idx")
    with pytest.raises(IndexFolderError, match="changed by another process"):
        second.save(tmp_path / "idx")
    fcntl = pytest.importorskip("fcntl")
    with open(tmp_path / "idx" / ".cnnlab-lock", "a+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(IndexFolderError, match="another cnnlab process is writing"):
            appended(tmp_path / "idx")
    assert len(EmbeddingIndex.load(tmp_path / "idx")) == 11


DAMAGES = {
    "zero bytes": lambda data: b"",
    "truncated": lambda data: data[: len(data) // 2],
    "garbage": lambda data: b"\x93NUMPY garbage " * 8,
}


@pytest.mark.parametrize("layout", ["format 2", "format 1"])
@pytest.mark.parametrize("part", [*PARTS, "meta.json"])
@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_part_is_our_error(tmp_path, layout, part, damage):
    index, _ = filled(n=20, kind="hnsw")
    path = format1(index, tmp_path / "idx") if layout == "format 1" else index.save(tmp_path / "idx")
    file = path / part if part == "meta.json" else locate(path).path(part)
    file.write_bytes(DAMAGES[damage](file.read_bytes()))
    with pytest.raises(IndexFolderError, match="corrupt|damaged|unreadable|rebuild"):
        EmbeddingIndex.load(path)


def test_parts_of_the_wrong_shape_are_our_error(tmp_path):
    def broken(edit_meta=None, part=None, value=None):
        folder = tmp_path / f"case{len(list(tmp_path.iterdir()))}"
        format1(filled(n=20)[0], folder)  # no digests: the shape checks alone must catch these
        if edit_meta:
            meta = json.loads((folder / "meta.json").read_text())
            edit_meta(meta)
            (folder / "meta.json").write_text(json.dumps(meta))
        if part == "paths.json":
            (folder / part).write_text(json.dumps(value))
        elif part:
            np.save(folder / part, value)
        with pytest.raises(IndexFolderError) as raised:
            EmbeddingIndex.load(folder)
        return str(raised.value)

    assert "class numbers" in broken(part="labels.npy", value=np.zeros((20, 2), np.int64))
    assert "does not have" in broken(part="labels.npy", value=np.full(20, 7, np.int64))
    assert "corrupt" in broken(part="labels.npy", value=np.array([{"x": 1}] * 20, dtype=object))  # no pickles
    assert "list of sources" in broken(part="paths.json", value={"a": 1})
    assert "uint8" in broken(part="thumbs.npy", value=np.zeros((20, 4, 4, 1), np.float32))
    assert "disagree" in broken(part="thumbs.npy", value=np.zeros((19, 4, 4, 1), np.uint8))
    assert "read size" in broken(lambda m: m.update(read_size=10**9))
    assert "no embedder" in broken(lambda m: m.update(embedder="pixels"))
    assert "format 7" in broken(lambda m: m.update(format=7))
    assert "no item count" in broken(lambda m: m.pop("count"))
    folder = tmp_path / "escape"
    filled(n=20)[0].save(folder)
    meta = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps({**meta, "generation": "../../elsewhere"}))
    with pytest.raises(IndexFolderError, match="valid generation"):
        EmbeddingIndex.load(folder)
