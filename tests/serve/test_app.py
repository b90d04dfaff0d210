import inspect
import io
import socket
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from cnnlab.serve.app import create_app


def png(path: Path) -> bytes:
    return path.read_bytes()


LOCAL = "http://127.0.0.1:8000"
TOKEN = "s3cret-token-for-tests-only"


@pytest.fixture(scope="module")
def client(index_dir):
    return TestClient(create_app(index_dir[0], max_upload_bytes=50_000), base_url=LOCAL)


def test_search_returns_the_image_itself_first(client, index_dir):
    query = index_dir[1] / "class1" / "3.png"
    response = client.post("/search", files={"file": ("q.png", png(query), "image/png")}, data={"k": "5"})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == 5
    assert results[0]["path"] == "class1/3.png" and results[0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert results[0]["label"] == "class1"
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)
    thumb = client.get(results[0]["thumbnail"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(thumb.content)).size == (16, 16)


def test_bad_uploads_get_clear_statuses(client, index_dir, tmp_path):
    query = png(index_dir[1] / "class0" / "0.png")
    too_big = client.post("/search", files={"file": ("big.png", b"\0" * 60_000, "image/png")})
    assert too_big.status_code == 413 and "limit" in too_big.json()["detail"]
    not_image = client.post("/search", files={"file": ("x.png", b"hello, I am text", "image/png")})
    assert not_image.status_code == 415 and "not an image" in not_image.json()["detail"]
    Image.new("1", (9000, 9000)).save(tmp_path / "bomb.png")
    bomb = client.post("/search", files={"file": ("bomb.png", png(tmp_path / "bomb.png"), "image/png")})
    assert bomb.status_code == 400 and "decompression bomb" in bomb.json()["detail"]
    too_many = client.post("/search", files={"file": ("q.png", query, "image/png")}, data={"k": "61"})
    assert too_many.status_code == 400 and "between 1 and 60" in too_many.json()["detail"]
    empty = client.post("/search", files={"file": ("q.png", b"", "image/png")})
    assert empty.status_code == 400


def test_thumbnails_only_by_id(client):
    assert client.get("/thumbs/59.png").status_code == 200
    assert client.get("/thumbs/60.png").status_code == 404
    assert client.get("/thumbs/-1.png").status_code == 404
    for probe in ("/thumbs/..%2F..%2Fmeta.json", "/thumbs/../meta.json", "/thumbs/meta.png"):
        response = client.get(probe)
        assert response.status_code in (404, 422) and b'"embedder"' not in response.content


def test_page_info_and_docs(client):
    page = client.get("/")
    assert page.status_code == 200 and 'id="drop"' in page.text
    info = client.get("/info").json()
    assert info["count"] == 60 and info["classes"] == ["class0", "class1", "class2"] and "raw pixels" in info["model"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/docs-files/swagger-ui-bundle.js" in docs.text
    assert "http" not in docs.text.replace("http-equiv", "")  # nothing from a CDN: the page works offline
    script = client.get("/docs-files/swagger-ui-bundle.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert len(script.content) > 100_000 and client.get("/docs-files/..%2Fmeta.json").status_code == 404
    assert "/search" in client.get("/openapi.json").json()["paths"]


def test_cli_binds_to_loopback_by_default():
    from cnnlab.serve.cli import serve

    assert inspect.signature(serve).parameters["host"].default.default == "127.0.0.1"


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.browser
@pytest.mark.parametrize("token", [False, True], ids=["open", "token"])
def test_web_page_in_a_real_browser(index_dir, token):
    playwright = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(index_dir[0], token=TOKEN if token else None)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(100):
            if server.started:
                break
            time.sleep(0.05)
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True)
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            if token:  # the page asks for the token, then sends it as a header
                page.wait_for_selector("#auth:not([hidden])")
                page.fill("#token", TOKEN)
                page.click("#auth button")
            page.wait_for_function("document.getElementById('info').textContent.includes('60 images')")
            page.fill("#k", "4")
            page.set_input_files("#file", str(index_dir[1] / "class2" / "5.png"))
            page.wait_for_selector(".hit >> nth=3")
            hits = page.locator(".hit")
            assert hits.count() == 4
            assert "class2" in hits.nth(0).inner_text() and "1.000" in hits.nth(0).inner_text()
            page.wait_for_function("document.querySelector('.hit img').naturalWidth === 16")
            assert TOKEN not in page.url
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
