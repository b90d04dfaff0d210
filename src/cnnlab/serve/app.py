"""FastAPI app over one index folder.

POST /search (multipart: file, k) -> neighbours as JSON; GET /thumbs/{id}.png -> a gallery thumbnail
(by integer id only: nothing from a request reaches the file system); GET /info; GET / -> the web page.
"""

from __future__ import annotations

import io
import threading
from importlib.resources import files
from pathlib import Path

import numpy as np
from fastapi import FastAPI, File, Form, HTTPException, UploadFile
from fastapi.responses import HTMLResponse, Response
from PIL import Image

from cnnlab.errors import ImageTooLargeError, IndexFolderError, NotAnImageError
from cnnlab.similarity.gallery import decode_image
from cnnlab.similarity.index import describe_embedder
from cnnlab.similarity.search import Searcher

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_K = 100


def create_app(index_dir: str | Path, *, device: str = "auto", max_upload_bytes: int = MAX_UPLOAD_BYTES,
               max_pixels: int = 40_000_000) -> FastAPI:
    """The service for the index in `index_dir` (loaded once, with its model)."""
    searcher = Searcher(index_dir, device=device)
    index = searcher.index
    lock = threading.Lock()  # one query at a time through the model
    app = FastAPI(title="cnnlab similar-image search",
                  description=f"Search {len(index)} images embedded by {describe_embedder(index.embedder)}.")
    page = files("cnnlab.serve").joinpath("page.html").read_text()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home() -> str:
        return page

    @app.get("/info")
    def info() -> dict:
        """What the index holds and which model made it."""
        return {"count": len(index), "dim": index.dim, "kind": index.kind, "classes": index.classes,
                "model": describe_embedder(index.embedder), "max_k": min(MAX_K, len(index)),
                "max_upload_bytes": max_upload_bytes}

    @app.post("/search")
    def search(file: UploadFile = File(..., description="an image file"),
               k: int = Form(10, description="number of neighbours")) -> dict:
        """The k gallery images most similar to the uploaded one, best first, with cosine scores."""
        if not 1 <= k <= min(MAX_K, len(index)):
            raise HTTPException(400, f"k must be between 1 and {min(MAX_K, len(index))} (the gallery holds "
                                     f"{len(index)} images)")
        data = file.file.read(max_upload_bytes + 1)
        if len(data) > max_upload_bytes:
            raise HTTPException(413, f"the upload is over the limit of {max_upload_bytes:,} bytes")
        if not data:
            raise HTTPException(400, "the upload is empty")
        try:
            query = decode_image(data, searcher.query_size, max_pixels=max_pixels)
            with lock:
                row = searcher.search([query], k)[0]
        except NotAnImageError as exc:
            raise HTTPException(415, str(exc)) from exc
        except ImageTooLargeError as exc:
            raise HTTPException(400, str(exc)) from exc
        except IndexFolderError as exc:
            raise HTTPException(400, str(exc)) from exc
        results = [{**n.to_dict(), "thumbnail": f"/thumbs/{n.id}.png"} for n in row]
        return {"k": k, "results": results}

    @app.get("/thumbs/{item_id}.png", responses={200: {"content": {"image/png": {}}}})
    def thumbnail(item_id: int) -> Response:
        """The thumbnail of gallery item `item_id`."""
        if not 0 <= item_id < len(index):
            raise HTTPException(404, f"no gallery item {item_id}")
        return Response(png_bytes(index.thumbnail(item_id)), media_type="image/png",
                        headers={"Cache-Control": "max-age=3600"})

    return app


def png_bytes(thumb: np.ndarray) -> bytes:
    """uint8 (T, T, C) -> PNG bytes."""
    array = np.asarray(thumb)
    img = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()
