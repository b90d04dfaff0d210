"""FastAPI app over one index folder.

POST /search (multipart: file, k) -> neighbours as JSON; GET /thumbs/{id}.png -> a gallery thumbnail
(by integer id only: nothing from a request reaches the file system); GET /info; GET / -> the web page.
Every request first passes cnnlab.serve.guard (Host allowlist, optional bearer token, body size limit).
Visitors see no absolute paths: sources are shown relative to the folder the gallery's files share.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterable
from importlib.resources import files
from pathlib import Path, PurePath

import numpy as np
from fastapi import Depends, FastAPI, File, Form, HTTPException, UploadFile
from fastapi.responses import HTMLResponse, Response
from fastapi.security import HTTPBearer
from PIL import Image

from cnnlab.checks import check_number
from cnnlab.errors import ImageTooLargeError, IndexFolderError, NotAnImageError
from cnnlab.serve.guard import Guard, allowed_hosts, check_exposure
from cnnlab.similarity.gallery import MAX_PIXELS, decode_image
from cnnlab.similarity.index import describe_embedder
from cnnlab.similarity.search import Searcher

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
FORM_OVERHEAD = 64 * 1024  # multipart boundaries, part headers and the k field around the file
MAX_K = 100
DECODE_SLOTS = 3  # images decoded at once: each may take width x height x 3 bytes (up to MAX_PIXELS)
DECODE_WAIT_S = 30  # a request that cannot start decoding within this gets 503
DOCS_FILES = ("swagger-ui-bundle.js", "swagger-ui.css")  # the API docs page's scripts, served from here
PUBLIC_PATHS = ("/", "/docs", "/docs/oauth2-redirect", "/openapi.json",
                *(f"/docs-files/{name}" for name in DOCS_FILES))  # no index data in them


def create_app(index_dir: str | Path, *, device: str = "auto", max_upload_bytes: int = MAX_UPLOAD_BYTES,
               max_pixels: int = MAX_PIXELS, token: str | None = None, host: str = "127.0.0.1",
               allow_hosts: Iterable[str] = (), decode_slots: int = DECODE_SLOTS) -> FastAPI:
    """The service for the index in `index_dir` (loaded once, with its model), bound to `host`: it answers
    to loopback names, `host` and `allow_hosts` ('*': any), and with `token` only to requests that carry it."""
    check_number("max_upload_bytes", max_upload_bytes, low=1, integer=True)
    check_number("max_pixels", max_pixels, low=1, integer=True)
    check_number("decode_slots", decode_slots, low=1, high=64, integer=True)
    check_exposure(host, token)
    searcher = Searcher(index_dir, device=device)
    index = searcher.index
    shown = public_sources(index.paths)
    max_k = min(MAX_K, len(index))
    lock = threading.Lock()  # one query at a time through the model
    decoding = threading.BoundedSemaphore(decode_slots)
    auth = [Depends(HTTPBearer(auto_error=False))] if token else []  # the docs' Authorize button; Guard checks
    app = FastAPI(title="cnnlab similar-image search", dependencies=auth, docs_url=None,
                  description="Search the images of an index by similarity; GET /info says what it holds.")
    offline_docs(app)
    app.add_middleware(Guard, hosts=allowed_hosts(host, allow_hosts), token=token,
                       max_body=max_upload_bytes + FORM_OVERHEAD, public=PUBLIC_PATHS)
    app.state.decoding = decoding
    page = files("cnnlab.serve").joinpath("page.html").read_text()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home() -> str:
        return page

    @app.get("/info")
    def info() -> dict:
        """What the index holds and which model made it."""
        return {"count": len(index), "dim": index.dim, "kind": index.kind, "classes": index.classes,
                "model": describe_embedder(index.embedder, public=True), "max_k": max_k,
                "max_upload_bytes": max_upload_bytes}

    @app.post("/search")
    def search(file: UploadFile = File(..., description="an image file"),
               k: int = Form(10, description="number of neighbours")) -> dict:
        """The k gallery images most similar to the uploaded one, best first, with cosine scores."""
        if not 1 <= k <= max_k:
            raise HTTPException(400, f"k must be between 1 and {max_k} (the gallery holds {len(index)} images)")
        query = _decoded(_upload(file, max_upload_bytes), decoding, searcher.query_size, max_pixels)
        try:
            with lock:
                row = searcher.search([query], k)[0]
        except IndexFolderError as exc:  # the model and the index disagree: the operator's to fix, not the visitor's
            raise HTTPException(500, "the index cannot answer queries; see the service's log") from exc
        results = [{**n.to_dict(), "path": shown[n.id], "thumbnail": f"/thumbs/{n.id}.png"} for n in row]
        return {"k": k, "verdict": searcher.verdict(row), "results": results}

    @app.get("/thumbs/{item_id}.png", responses={200: {"content": {"image/png": {}}}})
    def thumbnail(item_id: int) -> Response:
        """The thumbnail of gallery item `item_id`."""
        if not 0 <= item_id < len(index):
            raise HTTPException(404, f"no gallery item {item_id}")
        cache = "private, max-age=3600" if token else "max-age=3600"
        return Response(png_bytes(index.thumbnail(item_id)), media_type="image/png", headers={"Cache-Control": cache})

    return app


def offline_docs(app: FastAPI) -> None:
    """/docs with Swagger UI's files served by the app itself (from the swagger-ui-bundle package), not from a
    CDN: the page works where the service has no internet."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from swagger_ui_bundle import swagger_ui_path

    kinds = {".js": "text/javascript", ".css": "text/css"}

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - API docs",
                                   swagger_js_url="/docs-files/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-files/swagger-ui.css", swagger_favicon_url="")

    @app.get("/docs-files/{name}", include_in_schema=False)
    def docs_file(name: str) -> Response:
        if name not in DOCS_FILES:  # a fixed list: no path from the request reaches the file system
            raise HTTPException(404, f"no docs file {name}")
        return Response((swagger_ui_path / name).read_bytes(), media_type=kinds[Path(name).suffix],
                        headers={"Cache-Control": "max-age=86400"})


def _upload(file: UploadFile, max_upload_bytes: int) -> bytes:
    """The uploaded file's bytes: 413 over the limit, 400 when empty."""
    data = file.file.read(max_upload_bytes + 1)
    if len(data) > max_upload_bytes:
        raise HTTPException(413, f"the upload is over the limit of {max_upload_bytes:,} bytes")
    if not data:
        raise HTTPException(400, "the upload is empty")
    return data


def _decoded(data: bytes, decoding: threading.BoundedSemaphore, size: int, max_pixels: int):
    """The upload decoded as a query image, in one of the decoding slots (503 when none frees in time)."""
    if not decoding.acquire(timeout=DECODE_WAIT_S):  # read at call time: tests shorten it
        raise HTTPException(503, "the service is busy decoding other images; try again shortly")
    try:
        return decode_image(data, size, max_pixels=max_pixels)
    except NotAnImageError as exc:
        raise HTTPException(415, str(exc)) from exc
    except ImageTooLargeError as exc:
        raise HTTPException(400, str(exc)) from exc
    finally:
        decoding.release()


def public_sources(paths: list[str | None]) -> list[str | None]:
    """Each gallery source as a visitor may see it: a file relative to the folder the gallery's files share
    (its name alone when they share none but the root); dataset sources (NAME:SPLIT:I) as they are."""
    is_file = [p is not None and ("/" in p or "\\" in p) for p in paths]
    files_ = sorted({p for p, f in zip(paths, is_file, strict=True) if f})
    try:
        root = PurePath(os.path.commonpath(files_)) if files_ else None
    except ValueError:  # absolute and relative, or two drives
        root = None
    if root is not None and len(files_) == 1:
        root = root.parent
    if root is not None and root == PurePath(root.anchor):
        root = None

    def shown(path: str) -> str:
        if root is None:
            return PurePath(path).name
        relative = PurePath(path).relative_to(root).as_posix()
        return PurePath(path).name if relative.startswith("..") or relative == "." else relative

    return [shown(p) if f else p for p, f in zip(paths, is_file, strict=True)]


def png_bytes(thumb: np.ndarray) -> bytes:
    """uint8 (T, T, C) -> PNG bytes."""
    array = np.asarray(thumb)
    img = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()
