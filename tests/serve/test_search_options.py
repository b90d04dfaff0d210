"""POST /search options: neighbours of one class, near-duplicates dropped, a query by a region of the upload."""

import io

import pytest
from PIL import Image

from tests.serve.test_changes import add, client_for, search


def side_by_side(index_dir, left: str, right: str) -> bytes:
    """A 32x16 PNG: gallery image `left` beside gallery image `right`."""
    both = Image.new("L", (32, 16))
    both.paste(Image.open(index_dir[1] / left), (0, 0))
    both.paste(Image.open(index_dir[1] / right), (16, 0))
    buffer = io.BytesIO()
    both.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def client(index_dir):
    return client_for(index_dir[0])


def test_label_filter_gives_neighbours_of_that_class_only(client, index_dir):
    query = (index_dir[1] / "class0" / "2.png").read_bytes()
    assert search(client, query)["results"][0]["label"] == "class0"
    other = search(client, query, label="class2", k=8)
    assert other["label"] == "class2" and len(other["results"]) == 8
    assert {r["label"] for r in other["results"]} == {"class2"}
    same = search(client, query, label="class0")["results"][0]
    assert same["path"] == "class0/2.png" and same["score"] == pytest.approx(1.0, abs=1e-4)
    refused = client.post("/search", files={"file": ("q.png", query)}, data={"label": "class9"})
    assert refused.status_code == 400 and "no class 'class9'" in refused.json()["detail"]


def test_dedupe_drops_near_identical_results(fresh_index, index_dir):
    client = client_for(fresh_index)
    original = (index_dir[1] / "class1" / "3.png").read_bytes()
    job = add(client, [("copy-a.png", original), ("copy-b.png", original)])
    copies = set(job["added"])
    plain = search(client, original)["results"]
    twins = {r["id"] for r in plain[:3]}
    assert copies < twins and all(r["score"] == pytest.approx(1.0, abs=1e-4) for r in plain[:3])
    kept = search(client, original, dedupe="true")
    assert kept["dedupe"] is True and len(kept["results"]) == 5
    assert len(twins & {r["id"] for r in kept["results"]}) == 1 and kept["results"][0]["id"] in twins
    assert all(r["score"] < 0.995 for r in kept["results"][1:])
    assert client.post("/search", files={"file": ("q.png", original)}, data={"dedupe": "maybe"}).status_code == 422


def test_a_crop_searches_with_that_region_only(client, index_dir):
    both = side_by_side(index_dir, "class0/0.png", "class2/5.png")
    right = search(client, both, crop="16,0,32,16")
    assert right["crop"] == [16, 0, 32, 16]
    assert right["results"][0]["path"] == "class2/5.png"
    assert right["results"][0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert search(client, both, crop=" 0, 0,16,16")["results"][0]["path"] == "class0/0.png"
    for crop, message in (("0,0,33,16", "does not fit the upload of 32x16 pixels"),
                          ("16,0,32,17", "0 <= y0 < y1 <= 16"), ("1,2,3", "four whole numbers"),
                          ("a,b,c,d", "four whole numbers"),
                          ("-1,0,5,5", "four whole numbers"), ("5,5,5,9", "is empty"), ("9,0,3,4", "is empty")):
        response = client.post("/search", files={"file": ("q.png", both)}, data={"crop": crop})
        assert response.status_code == 400 and message in response.json()["detail"], (crop, response.text)


def test_an_emptied_index_says_so(fresh_index, index_dir):
    client = client_for(fresh_index)
    ids = [item["id"] for item in client.get("/images", params={"limit": 200}).json()["items"]]
    assert client.post("/images/delete", json={"ids": ids}).json()["removed"] == ids
    empty = client.post("/search", files={"file": ("q.png", (index_dir[1] / "class0" / "1.png").read_bytes())})
    assert empty.status_code == 409 and "empty" in empty.json()["detail"]
    assert client.get("/info").json()["count"] == 0
