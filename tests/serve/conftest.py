import io
import socket
import threading
import time
from contextlib import contextmanager

import numpy as np
import pytest
from PIL import Image

from cnnlab.index.search import build_index


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory, digits):
    """A raw-pixel index of a real folder: 3 digit classes, 20 images each."""
    root = tmp_path_factory.mktemp("gallery")
    images, labels = digits
    for cls in (0, 1, 2):
        (root / f"class{cls}").mkdir()
        for k, i in enumerate(np.flatnonzero(labels == cls)[:20]):
            Image.fromarray(images[i]).resize((16, 16)).save(root / f"class{cls}" / f"{k}.png")
    out = tmp_path_factory.mktemp("index") / "idx"
    build_index("pixels", str(root), out, image_size=16)
    return out, root


@pytest.fixture
def fresh_index(index_dir, tmp_path):
    """A copy of the session's index folder that a test may change."""
    import shutil

    folder = tmp_path / "idx"
    shutil.copytree(index_dir[0], folder)
    return folder


@contextmanager
def running(app):
    """The app served by uvicorn on a free loopback port, in a thread; yields its base URL."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def wait_for_job(client, job: dict, timeout: float = 60) -> dict:
    """Poll GET /jobs/ID until the job is done or failed."""
    deadline = time.monotonic() + timeout
    while job["state"] not in ("done", "failed"):
        assert time.monotonic() < deadline, f"job still {job['state']} after {timeout} s: {job}"
        time.sleep(0.05)
        response = client.get(job["url"])
        assert response.status_code == 200, response.text
        job = response.json()
    return job


def png_bytes_of(array) -> bytes:
    """uint8 (H, W) or (H, W, 3) -> PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()
