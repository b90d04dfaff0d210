"""The service refuses what it must before the app reads anything: foreign Host headers (DNS rebinding),
requests without the token, bodies over the limit; it shows visitors no absolute paths, bounds its
decoding, and the command checks its options before it loads the index."""

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cnnlab.errors import ConfigError, IndexFolderError
from cnnlab.serve import uploads as uploads_module
from cnnlab.serve.app import create_app
from cnnlab.serve.cli import serve
from cnnlab.serve.guard import request_host
from cnnlab.serve.library import public_sources
from tests.serve.test_app import LOCAL, TOKEN

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def guarded(index_dir):
    """The service with a token, bound to every address, answering to one more name."""
    app = create_app(index_dir[0], token=TOKEN, host="0.0.0.0", allow_hosts=["search.example.org"])
    return TestClient(app, base_url=LOCAL)


@pytest.fixture(scope="module")
def local(index_dir):
    return create_app(index_dir[0], max_upload_bytes=50_000)


def query_file(index_dir, name="class2/4.png"):
    return {"file": ("q.png", (index_dir[1] / name).read_bytes(), "image/png")}


@pytest.mark.parametrize("host,status", [
    ("127.0.0.1:8000", 200), ("localhost:8000", 200), ("LOCALHOST.", 200), ("[::1]:8000", 200), ("127.0.0.1", 200),
    ("evil.example:8000", 400), ("127.0.0.1.evil.example", 400), ("", 400), ("localhost:80:80", 400),
    ("[::1]x", 400), ("search.example.org", 400),
])
def test_only_loopback_names_by_default(local, host, status):
    response = TestClient(local, base_url=LOCAL).get("/info", headers={"host": host})
    assert response.status_code == status, response.text
    if status == 400:
        assert "--allow-host" in response.json()["detail"]


def test_allowed_hosts_and_the_bound_address(guarded, index_dir):
    headers = {"authorization": f"Bearer {TOKEN}"}
    for host in ("search.example.org", "search.example.org:8000", "localhost"):
        assert guarded.get("/info", headers={**headers, "host": host}).status_code == 200, host
    assert guarded.get("/info", headers={**headers, "host": "0.0.0.0:8000"}).status_code == 400
    bound = TestClient(create_app(index_dir[0], host="127.0.0.5"), base_url="http://127.0.0.5:8000")
    assert bound.get("/info").status_code == 200
    anyone = TestClient(create_app(index_dir[0], allow_hosts=["*"]), base_url="http://whatever.example")
    assert anyone.get("/info").status_code == 200


def test_request_host_parsing():
    assert request_host("Example.ORG:443") == "example.org" and request_host("[::1]") == "::1"
    assert request_host("::1") is None and request_host("a:b") is None and request_host(None) is None


def test_the_token_is_needed_everywhere_but_the_page_and_docs(guarded, index_dir):
    for path in ("/info", "/thumbs/0.png"):
        assert guarded.get(path).status_code == 401
        assert guarded.get(path, headers={"authorization": "Bearer wrong-token-of-some-length"}).status_code == 401
        assert guarded.get(path, headers={"authorization": TOKEN}).status_code == 401  # the scheme is needed
        assert guarded.get(path, headers={"authorization": f"bearer {TOKEN}"}).status_code == 200
    refused = guarded.post("/search", files=query_file(index_dir))
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    assert guarded.get(f"/info?token={TOKEN}").status_code == 401  # never in URLs, where logs keep them
    found = guarded.post("/search", files=query_file(index_dir), headers={"authorization": f"Bearer {TOKEN}"})
    assert found.status_code == 200 and found.json()["results"][0]["path"] == "class2/4.png"
    assert guarded.get("/").status_code == 200 and guarded.get("/openapi.json").status_code == 200
    assert "HTTPBearer" in json.dumps(guarded.get("/openapi.json").json()["components"])


def test_binding_beyond_loopback_needs_a_good_token(index_dir):
    for host in ("0.0.0.0", "::", "192.168.1.20", "myhost.local"):
        with pytest.raises(ConfigError, match="--token"):
            create_app(index_dir[0], host=host)
    with pytest.raises(ConfigError, match="at least 16"):
        create_app(index_dir[0], token="short")
    with pytest.raises(ConfigError, match="printable ASCII"):
        create_app(index_dir[0], token="a token with spaces in it")


def test_no_absolute_paths_reach_visitors(index_dir, local):
    client = TestClient(local, base_url=LOCAL)
    info = client.get("/info").text
    found = client.post("/search", files=query_file(index_dir), data={"k": "60"}).text
    for text in (info, found, client.get("/openapi.json").text):
        assert str(index_dir[1]) not in text and str(index_dir[0]) not in text
    paths = [r["path"] for r in json.loads(found)["results"]]
    assert sorted(paths) == sorted(f"class{c}/{k}.png" for c in range(3) for k in range(20))


def test_public_sources():
    assert public_sources(["/home/a/pics/x/1.png", "/home/a/pics/y/2.png", None, "digits:test:3"]) == \
        ["x/1.png", "y/2.png", None, "digits:test:3"]
    assert public_sources(["/home/a/1.png", "/srv/b/2.png"]) == ["1.png", "2.png"]  # nothing shared but the root
    assert public_sources(["/home/a/1.png"]) == ["1.png"]
    assert public_sources(["/home/a/1.png", "rel/2.png"]) == ["1.png", "2.png"]


def call(app, *, headers, chunks):
    """One raw ASGI request to /search; returns (status, detail, how many times the body was read)."""
    reads, sent = [], []

    async def receive():
        reads.append(1)
        if chunks:
            body = chunks.pop(0)
            return {"type": "http.request", "body": body, "more_body": bool(chunks)}
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/search", "raw_path": b"/search", "query_string": b"", "root_path": "",
             "headers": [(b"host", b"127.0.0.1:8000"), *headers], "client": ("127.0.0.1", 5000),
             "server": ("127.0.0.1", 8000)}
    asyncio.run(app(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(body)["detail"], len(reads)


MULTIPART = (b"content-type", b"multipart/form-data; boundary=xyz")


def test_an_oversized_body_is_refused_from_its_content_length_before_reading(local):
    status, detail, reads = call(local, headers=[MULTIPART, (b"content-length", b"1000000000")], chunks=[])
    assert status == 413 and "over the limit" in detail and reads == 0
    status, _, reads = call(local, headers=[MULTIPART, (b"content-length", b"12x")], chunks=[])
    assert status == 400 and reads == 0


def test_a_chunked_body_is_cut_off_once_over_the_limit(local):
    chunks = [b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\n"]
    chunks += [b"\0" * 20_000 for _ in range(50)]  # 1 MB, no Content-Length
    status, detail, reads = call(local, headers=[MULTIPART], chunks=chunks)
    assert status == 413 and "over the limit" in detail
    assert reads <= 8  # the limit is 50,000 bytes + 64 KiB of form: the rest is never read


def test_decoding_is_bounded(index_dir, monkeypatch):
    app = create_app(index_dir[0], decode_slots=1)
    client = TestClient(app, base_url=LOCAL)
    monkeypatch.setattr(uploads_module, "DECODE_WAIT_S", 0.01)
    slots = app.state.decoding
    assert slots.acquire(blocking=False)  # every decode slot taken (by requests still decoding)
    try:
        busy = client.post("/search", files=query_file(index_dir))
    finally:
        slots.release()
    assert busy.status_code == 503 and "busy" in busy.json()["detail"]
    assert client.post("/search", files=query_file(index_dir)).status_code == 200


def serve_cli(*args, env=None):
    app = typer.Typer()
    app.command()(serve)
    return CliRunner().invoke(app, [str(a) for a in args], env=env)


@pytest.mark.parametrize("args,message", [
    (["--port", "0"], "--port"), (["--port", "70000"], "--port"), (["--max-upload-mb", "0"], "--max-upload-mb"),
    (["--max-upload-mb", "-3"], "--max-upload-mb"), (["--host", "0.0.0.0"], "--token"),
    (["--host", "0.0.0.0", "--token", "short"], "at least 16"), (["--device", "gpu9"], "--device"),
    (["--allow-host", " "], "--allow-host"),
])
def test_serve_checks_its_options_before_loading_the_index(tmp_path, args, message):
    result = serve_cli(tmp_path / "no-index-here", *args)
    assert isinstance(result.exception, ConfigError), result.output
    assert message in str(result.exception)


def test_the_token_can_come_from_the_environment(tmp_path):
    result = serve_cli(tmp_path / "no-index-here", "--host", "0.0.0.0", env={"CNNLAB_TOKEN": TOKEN})
    assert isinstance(result.exception, IndexFolderError)  # past the option checks, to loading the index


def test_the_command_prints_the_refusal_without_a_traceback(tmp_path):
    done = subprocess.run([sys.executable, "-m", "cnnlab", "serve", str(tmp_path), "--host", "0.0.0.0"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 2 and "--token" in done.stdout and "Traceback" not in done.stdout + done.stderr
