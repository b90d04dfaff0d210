"""Adding, removing and listing images through the service: jobs with progress, ids that stay each item's own
and are never given again, every change saved to the folder and seen by the next service."""

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from cnnlab.index.core import EmbeddingIndex
from cnnlab.serve.app import create_app
from tests.serve.conftest import png_bytes_of, wait_for_job
from tests.serve.test_app import LOCAL


def threes(digits, n: int) -> list[bytes]:
    """n 16x16 PNGs of the digit 3 (a class the gallery does not hold)."""
    images, labels = digits
    return [png_bytes_of(np.array(Image.fromarray(images[i]).resize((16, 16))))
            for i in np.flatnonzero(labels == 3)[:n]]


def client_for(folder, **options) -> TestClient:
    return TestClient(create_app(folder, **options), base_url=LOCAL)


def add(client, files: list[tuple[str, bytes]], labels=()) -> dict:
    response = client.post("/images", files=[("files", (name, data, "image/png")) for name, data in files],
                           data={"label": list(labels)})
    assert response.status_code == 202, response.text
    return wait_for_job(client, response.json())


def search(client, data: bytes, **fields) -> dict:
    response = client.post("/search", files={"file": ("q.png", data, "image/png")},
                           data={k: str(v) for k, v in {"k": 5, **fields}.items()})
    assert response.status_code == 200, response.text
    return response.json()


def test_added_images_are_found_as_their_own_nearest_neighbour(fresh_index, digits):
    client = client_for(fresh_index)
    new = threes(digits, 2)
    response = client.post("/images", data={"label": "class3"}, files=[
        ("files", ("three-a.png", new[0], "image/png")), ("files", ("../../etc/three-b.png", new[1], "image/png")),
        ("files", ("notes.txt", b"not an image at all", "text/plain"))])
    assert response.status_code == 202 and response.json()["total"] == 3
    job = wait_for_job(client, response.json())
    assert job["state"] == "done" and job["done"] == 3 and job["added"] == [60, 61]
    assert [(e["file"], e["name"]) for e in job["errors"]] == [(2, "notes.txt")]
    assert "not an image" in job["errors"][0]["error"]
    for data, item_id, name in ((new[0], 60, "upload:three-a.png"), (new[1], 61, "upload:three-b.png")):
        best = search(client, data)["results"][0]
        assert (best["id"], best["label"], best["path"]) == (item_id, "class3", name)
        assert best["score"] == pytest.approx(1.0, abs=1e-4)
        assert client.get(best["thumbnail"]).status_code == 200
    info = client.get("/info").json()
    assert info["count"] == 62 and info["classes"][-1] == "class3"
    on_disk = EmbeddingIndex.load(fresh_index)  # saved, not only in memory
    assert len(on_disk) == 62 and on_disk.item(61).path == "upload:three-b.png"


def test_removed_images_are_gone_and_their_ids_never_come_back(fresh_index, index_dir, digits):
    client = client_for(fresh_index)
    query = (index_dir[1] / "class0" / "5.png").read_bytes()
    best = search(client, query)["results"][0]
    assert best["path"] == "class0/5.png" and best["score"] == pytest.approx(1.0, abs=1e-4)
    gone = best["id"]
    removed = client.delete(f"/images/{gone}")
    assert removed.status_code == 200 and removed.json()["removed"] == [gone], removed.text
    found = search(client, query, k=59)["results"]
    assert len(found) == 59 and gone not in {r["id"] for r in found}
    assert "class0/5.png" not in {r["path"] for r in found}
    assert client.get(f"/thumbs/{gone}.png").status_code == 404
    assert client.delete(f"/images/{gone}").status_code == 404
    others = sorted({59, 58} - {gone})
    batch = client.post("/images/delete", json={"ids": [*others, others[0], 1000]})
    assert batch.status_code == 200 and batch.json()["removed"] == others and batch.json()["missing"] == [1000]
    assert add(client, [("t.png", threes(digits, 1)[0])])["added"] == [60]  # not 58 or 59
    again = client_for(fresh_index)  # the next service reads the same ids from the folder
    listed = again.get("/images", params={"limit": 200}).json()
    ids = [item["id"] for item in listed["items"]]
    assert listed["total"] == 60 - 1 - len(others) + 1 and gone not in ids and 59 not in ids and ids[-1] == 60
    assert add(again, [("u.png", threes(digits, 2)[1])])["added"] == [61]
    assert json.loads((fresh_index / "meta.json").read_text())["next_id"] == 62


def test_listing_pages_through_items_by_label(client_read_only):
    client = client_read_only
    first = client.get("/images", params={"limit": 25}).json()
    assert first["total"] == 60 and [i["id"] for i in first["items"]] == list(range(25))
    assert len(client.get("/images", params={"offset": 50, "limit": 25}).json()["items"]) == 10
    assert client.get("/images", params={"offset": 60}).json()["items"] == []
    everything = client.get("/images", params={"limit": 200}).json()["items"]
    ones = client.get("/images", params={"label": "class1", "offset": 5, "limit": 3}).json()
    assert ones["total"] == 20 and ones["items"] == [i for i in everything if i["label"] == "class1"][5:8]
    first = ones["items"][0]
    assert first["source"].startswith("class1/") and first["source"].endswith(".png")
    assert first["thumbnail"] == f"/thumbs/{first['id']}.png" and client.get(first["thumbnail"]).status_code == 200
    for params, message in (({"limit": 0}, "limit must be between 1 and 200"), ({"limit": 201}, "limit must be"),
                            ({"offset": -1}, "offset must be"), ({"label": "cats"}, "no class 'cats'")):
        response = client.get("/images", params=params)
        assert response.status_code == 400 and message in response.json()["detail"], params
    bad = client.get("/images", params={"offset": "abc"})
    assert bad.status_code == 422 and "offset" in bad.json()["detail"]


@pytest.fixture(scope="module")
def client_read_only(index_dir):
    return client_for(index_dir[0], read_only=True)


def test_a_read_only_service_refuses_changes(client_read_only, index_dir):
    data = (index_dir[1] / "class0" / "1.png").read_bytes()
    assert client_read_only.post("/images", files={"files": ("a.png", data)}).status_code == 403
    assert client_read_only.delete("/images/3").status_code == 403
    refused = client_read_only.post("/images/delete", json={"ids": [3]})
    assert refused.status_code == 403 and "--read-only" in refused.json()["detail"]
    assert client_read_only.get("/info").json()["read_only"] is True


def test_bad_change_requests_get_our_4xx(fresh_index, index_dir):
    client = client_for(fresh_index, max_upload_bytes=50_000, max_batch_files=3)
    data = (index_dir[1] / "class0" / "1.png").read_bytes()

    def files(*names, size=None):
        return [("files", (name, data if size is None else b"\0" * size, "image/png")) for name in names]

    cases = [
        (client.post("/images", files=files("a", "b", "c", "d")), 413, "at most 3 files"),
        (client.post("/images", files=files("a") + files("big.png", size=60_000)), 413, "big.png) is over the limit"),
        (client.post("/images", files=files("a", "b"), data={"label": ["x", "y", "z"]}), 400, "one per file"),
        (client.post("/images", files=files("a"), data={"label": "x" * 65}), 400, "at most 64"),
        (client.post("/images", data={"label": "x"}), 422, "files"),
        (client.delete("/images/abc"), 422, "item_id"),
        (client.delete("/images/-1"), 404, "no gallery item -1"),
        (client.delete(f"/images/{10**30}"), 404, "no gallery item"),
        (client.post("/images/delete", json={"ids": []}), 400, "give 1 to 1000 ids"),
        (client.post("/images/delete", json={"ids": list(range(1001))}), 400, "give 1 to 1000 ids"),
        (client.post("/images/delete", json={"ids": [-3]}), 400, "whole numbers from 0"),
        (client.post("/images/delete", json={"ids": ["1"]}), 422, "ids"),
        (client.post("/images/delete", json={"ids": [True]}), 422, "ids"),
        (client.post("/images/delete", content=b"{not json", headers={"content-type": "application/json"}), 422, ""),
        (client.get("/jobs/nope"), 404, "no job"),
        (client.get("/jobs/" + "0" * 32), 404, "no job"),
        (client.get("/thumbs/99999999999999999999999.png"), 404, "no gallery item"),
    ]
    for response, status, message in cases:
        assert response.status_code == status, (response.request.url, response.text)
        assert isinstance(response.json()["detail"], str) and message in response.json()["detail"], response.text
    assert len(EmbeddingIndex.load(fresh_index)) == 60  # nothing changed
    batch = client.post("/images", files=files("a.png", "b.png", "c.png", size=40_000))  # over /search's body limit
    assert batch.status_code == 202
    assert [e["name"] for e in wait_for_job(client, batch.json())["errors"]] == ["a.png", "b.png", "c.png"]
    assert client.post("/search", files={"file": ("q.png", b"\0" * 120_000)}).status_code == 413
