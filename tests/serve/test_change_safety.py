"""Changes through the service are crash-safe and never disturb searches: a crash at any write of an add or a
removal leaves the old index or the new one (and the next service takes the next change), a failed save
leaves the service answering from the old index, and searches running while images are added and removed
all succeed."""

import shutil
import threading
import time

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from cnnlab.index import folder as folder_module
from cnnlab.index.core import EmbeddingIndex
from cnnlab.index.folder import locate
from cnnlab.serve import images as images_module
from cnnlab.serve.app import create_app
from cnnlab.serve.jobs import SAVE_FAILED
from tests.index.test_index_folder import crash_at
from tests.serve.conftest import running, wait_for_job
from tests.serve.test_app import LOCAL
from tests.serve.test_changes import add, client_for, search, threes


def start_change(client, kind: str, new: bytes) -> dict:
    """Start an add of one image or a removal of items 3 and 7; the job as the service answered."""
    if kind == "add":
        response = client.post("/images", files={"files": ("new.png", new, "image/png")})
    else:
        response = client.post("/images/delete", json={"ids": [3, 7]})
    assert response.status_code in (200, 202), response.text
    return response.json()


def settled(app, client, job: dict, timeout: float = 30) -> bool:
    """Wait until the job is done (True) or the writer thread has died of the injected crash (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = client.get(job["url"]).json()["state"]
        if state == "done":
            return True
        assert state != "failed"
        if not app.state.writer.thread.is_alive():
            return False
        time.sleep(0.02)
    raise AssertionError("the change neither finished nor crashed")


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.parametrize("kind", ["add", "remove"])
def test_a_crash_at_any_write_of_a_change_leaves_the_old_or_the_new_index(index_dir, tmp_path, monkeypatch, digits,
                                                                          kind):
    new = threes(digits, 2)
    monkeypatch.setattr(images_module, "REMOVE_WAIT_S", 0)  # answer at once; the test waits for the job itself
    expected = {"add": 61, "remove": 58}[kind]
    step, counts = 0, []
    while True:
        folder = tmp_path / f"crash{step}"
        shutil.copytree(index_dir[0], folder)
        app = create_app(folder)
        client = TestClient(app, base_url=LOCAL)
        with monkeypatch.context() as patch:
            done = crash_at(patch, step)  # the step-th disk change of the save raises Killed (the process dies)
            finished = settled(app, client, start_change(client, kind, new[0]))
        loaded = EmbeddingIndex.load(folder)  # never broken: the old index or the new one
        assert len(loaded) in (60, expected), (step, done)
        counts.append(len(loaded))
        after = client_for(folder)  # the service started again on the folder
        assert search(after, new[0])["results"][0]["score"] > 0
        follow = add(after, [("next.png", new[1])])
        assert follow["state"] == "done" and follow["added"] == [loaded.next_id]
        assert [p.name for p in folder.iterdir() if p.is_dir()] == [locate(folder).generation]
        if finished:
            break
        step += 1
    assert step >= 8, "every disk change of the save was interrupted once"
    assert counts[0] == 60 and counts[-1] == expected and counts == sorted(counts, reverse=kind == "remove")


def test_a_failed_save_leaves_the_service_answering_from_the_old_index(fresh_index, digits, monkeypatch):
    client = client_for(fresh_index)
    new = threes(digits, 1)[0]

    def disk_full(path, writer):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(folder_module, "_write_part", disk_full)
        job = add(client, [("new.png", new)])
        removal = client.post("/images/delete", json={"ids": [1]})
    assert job["state"] == "failed" and job["message"] == SAVE_FAILED and job["added"] == []
    assert removal.status_code == 500 and removal.json()["detail"] == SAVE_FAILED
    assert str(fresh_index) not in job["message"]
    assert client.get("/info").json()["count"] == 60 and len(EmbeddingIndex.load(fresh_index)) == 60
    assert search(client, new)["results"][0]["score"] < 0.999  # not in the index
    assert add(client, [("new.png", new)])["added"] == [60]  # the next change goes through
    assert client.get("/info").json()["count"] == 61


def test_searches_while_images_are_added_and_removed_never_fail(fresh_index, index_dir, digits):
    queries = [(index_dir[1] / f"class{c}" / f"{k}.png").read_bytes() for c in range(3) for k in (1, 8)]
    new = threes(digits, 12)
    statuses, counts, stop = [], set(), threading.Event()

    def searching(seed: int, base: str) -> None:
        rng = np.random.default_rng(seed)
        with httpx.Client(base_url=base, timeout=30) as http:
            while not stop.is_set():
                data = queries[rng.integers(len(queries))]
                response = http.post("/search", files={"file": ("q.png", data)}, data={"k": "10"})
                statuses.append(response.status_code)
                if response.status_code == 200:
                    scores = [r["score"] for r in response.json()["results"]]
                    if scores != sorted(scores, reverse=True) or len(scores) != 10:
                        statuses.append(f"bad results {scores}")
                counts.add(http.get("/info").json()["count"])

    with running(create_app(fresh_index)) as base:
        threads = [threading.Thread(target=searching, args=(i, base)) for i in range(3)]
        for t in threads:
            t.start()
        with httpx.Client(base_url=base, timeout=30) as http:
            for start in range(0, 12, 4):
                files = [("files", (f"n{i}.png", new[i], "image/png")) for i in range(start, start + 4)]
                job = wait_for_job(http, http.post("/images", files=files).json())
                assert job["state"] == "done", job
                assert http.post("/images/delete", json={"ids": [start, start + 1]}).status_code == 200
                time.sleep(0.2)
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert len(statuses) > 20 and set(statuses) == {200}, sorted(set(statuses))
    assert len(counts) > 2 and counts <= set(range(60, 69))  # searches ran while the index changed
    final = EmbeddingIndex.load(fresh_index)
    assert len(final) == 60 + 12 - 6 and final.next_id == 72
