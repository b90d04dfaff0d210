"""FastAPI app over one index folder.

Search: POST /search (multipart: file, k, and optionally label, dedupe, crop) -> neighbours as JSON;
GET /thumbs/{id}.png -> a gallery thumbnail (by integer id only: nothing from a request reaches the file
system); GET /info; GET / -> the web page. Change: POST /images, GET /jobs/{id}, DELETE /images/{id},
POST /images/delete, GET /images (cnnlab.serve.images). Every request first passes cnnlab.serve.guard
(Host allowlist, optional bearer token, body size limits). Visitors see no absolute paths: sources are
shown relative to the folder the gallery's files share, uploads by their file name alone.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterable
from importlib.resources import files
from pathlib import Path

import numpy as np
from fastapi import Depends, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPBearer
from PIL import Image

from cnnlab.checks import check_number
from cnnlab.errors import ConfigError, IndexFolderError
from cnnlab.index.core import describe_embedder
from cnnlab.index.filtered import DEDUPE_COSINE, label_rows
from cnnlab.index.gallery import MAX_PIXELS
from cnnlab.serve.guard import Guard, allowed_hosts, check_exposure
from cnnlab.serve.images import image_routes
from cnnlab.serve.jobs import Writer
from cnnlab.serve.library import Library
from cnnlab.serve.uploads import (
    DECODE_SLOTS,
    MAX_BATCH_BYTES,
    MAX_BATCH_FILES,
    MAX_UPLOAD_BYTES,
    Limits,
    check_label,
    decode_upload,
    decoded_query,
    parse_crop,
    read_upload,
)

FORM_OVERHEAD = 64 * 1024  # multipart boundaries, part headers and the other fields around the file
PART_OVERHEAD = 1024  # each further file's boundary and headers in POST /images
MAX_K = 100
DOCS_FILES = ("swagger-ui-bundle.js", "swagger-ui.css")  # the API docs page's scripts, served from here
PUBLIC_PATHS = ("/", "/docs", "/docs/oauth2-redirect", "/openapi.json",
                *(f"/docs-files/{name}" for name in DOCS_FILES))  # no index data in them


def create_app(index_dir: str | Path, *, device: str = "auto", max_upload_bytes: int = MAX_UPLOAD_BYTES,
               max_pixels: int = MAX_PIXELS, token: str | None = None, host: str = "127.0.0.1",
               allow_hosts: Iterable[str] = (), decode_slots: int = DECODE_SLOTS,
               max_batch_files: int = MAX_BATCH_FILES, max_batch_bytes: int = MAX_BATCH_BYTES,
               read_only: bool = False) -> FastAPI:
    """The service for the index in `index_dir` (loaded once, with its model), bound to `host`: it answers
    to loopback names, `host` and `allow_hosts` ('*': any), and with `token` only to requests that carry it.
    Images are added and removed through it unless `read_only`."""
    check_number("max_upload_bytes", max_upload_bytes, low=1, integer=True)
    check_number("max_pixels", max_pixels, low=1, integer=True)
    check_number("decode_slots", decode_slots, low=1, high=64, integer=True)
    check_number("max_batch_files", max_batch_files, low=1, high=10_000, integer=True)
    check_number("max_batch_bytes", max_batch_bytes, low=1, integer=True)
    check_exposure(host, token)
    library = Library(index_dir, device=device)
    limits = Limits(max_upload_bytes, max_pixels, max_batch_files, max_batch_bytes,
                    threading.BoundedSemaphore(decode_slots))
    auth = [Depends(HTTPBearer(auto_error=False))] if token else []  # the docs' Authorize button; Guard checks
    app = FastAPI(title="cnnlab similar-image search", dependencies=auth, docs_url=None,
                  description="Search the images of an index by similarity, and add or remove images; GET /info "
                              "says what it holds.")
    offline_docs(app)
    readable_errors(app)
    batch_body = max_batch_bytes + FORM_OVERHEAD + PART_OVERHEAD * max_batch_files
    app.add_middleware(Guard, hosts=allowed_hosts(host, allow_hosts), token=token,
                       max_body=max_upload_bytes + FORM_OVERHEAD, public=PUBLIC_PATHS, limits={"/images": batch_body})
    app.state.decoding, app.state.library = limits.decoding, library
    page_routes(app, library, limits, cache="private, max-age=3600" if token else "max-age=3600",
                read_only=read_only)
    search_route(app, library, limits)
    writer = Writer(library, lambda data: decode_upload(data, limits, library.query_size, patient=True))
    app.state.writer = writer
    image_routes(app, library, writer, limits, read_only=read_only)
    return app


def page_routes(app: FastAPI, library: Library, limits: Limits, *, cache: str, read_only: bool) -> None:
    """GET /, GET /info and GET /thumbs/ID.png."""
    page = files("cnnlab.serve").joinpath("page.html").read_text()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home() -> str:
        return page

    @app.get("/info")
    def info() -> dict:
        """What the index holds, which model made it, and the service's limits."""
        index = library.snapshot.index
        return {"count": len(index), "dim": index.dim, "kind": index.kind, "classes": index.classes,
                "model": describe_embedder(index.embedder, public=True), "max_k": min(MAX_K, len(index)),
                "max_upload_bytes": limits.max_upload_bytes, "max_batch_files": limits.max_batch_files,
                "max_batch_bytes": limits.max_batch_bytes, "read_only": read_only, "dedupe_cosine": DEDUPE_COSINE}

    @app.get("/thumbs/{item_id}.png", responses={200: {"content": {"image/png": {}}}})
    def thumbnail(item_id: int) -> Response:
        """The thumbnail of gallery item `item_id`."""
        index = library.snapshot.index
        row = index.row_of(item_id)
        if row is None:
            raise HTTPException(404, f"no gallery item {item_id}")
        return Response(png_bytes(index.thumbs[row]), media_type="image/png", headers={"Cache-Control": cache})


def search_route(app: FastAPI, library: Library, limits: Limits) -> None:
    @app.post("/search")
    def search(file: UploadFile = File(..., description="an image file"),
               k: int = Form(10, description="number of neighbours"),
               label: str | None = Form(None, description="only neighbours of this class"),
               dedupe: bool = Form(False, description=f"drop results at least {DEDUPE_COSINE} similar (cosine) to a "
                                   "better-ranked result"),
               crop: str | None = Form(None, description="x0,y0,x1,y1: search with this region of the upload, in "
                                       "pixels of the image as shown (EXIF rotation applied)")) -> dict:
        """The k gallery images most similar to the uploaded one (or to a region of it), best first, with
        cosine and match scores."""
        snapshot = library.snapshot  # this request's index, whatever changes meanwhile
        index = snapshot.index
        if len(index) == 0:
            raise HTTPException(409, "the index is empty; add images first (POST /images)")
        if not 1 <= k <= min(MAX_K, len(index)):
            raise HTTPException(400, f"k must be between 1 and {min(MAX_K, len(index))} (the gallery holds "
                                     f"{len(index)} images)")
        label, box = check_label(label), parse_crop(crop)
        if label is not None:
            try:
                label_rows(index, label)
            except ConfigError as exc:
                raise HTTPException(400, str(exc)) from exc
        query = decoded_query(read_upload(file, limits.max_upload_bytes), limits, library.query_size, box)
        try:
            row = library.search(snapshot, query, k, label=label, dedupe=dedupe)
        except IndexFolderError as exc:  # the model and the index disagree: the operator's to fix, not the visitor's
            raise HTTPException(500, "the index cannot answer queries; see the service's log") from exc
        results = [{**n.to_dict(), "path": snapshot.shown[index.row_of(n.id)], "thumbnail": f"/thumbs/{n.id}.png"}
                   for n in row]
        return {"k": k, "label": label, "dedupe": dedupe, "crop": box, "verdict": library.verdict(snapshot, row),
                "results": results}


def readable_errors(app: FastAPI) -> None:
    """A request FastAPI cannot parse (a field that is not a number, a missing file) gets 422 with a detail
    in words, as every other refusal has, rather than a list of objects."""

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors()[:5]:
            where = ".".join(str(p) for p in error.get("loc", ())[1:]) or "the request"
            problems.append(f"{where}: {error.get('msg', 'invalid')}")
        return JSONResponse({"detail": "invalid request: " + "; ".join(problems)}, status_code=422)


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


def png_bytes(thumb: np.ndarray) -> bytes:
    """uint8 (T, T, C) -> PNG bytes."""
    array = np.asarray(thumb)
    img = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()
