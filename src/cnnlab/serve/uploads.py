"""What a request brings, checked before anything uses it: uploaded files within their size limits, decoded in
one of a few decoding slots at the index's read size, crops, class labels and file names (shown to visitors,
never used as paths)."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

import torch
from fastapi import HTTPException, UploadFile

from cnnlab.errors import DataError, NotAnImageError
from cnnlab.index.gallery import MAX_PIXELS, decode_image

MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # one file
MAX_BATCH_FILES = 64  # files in one POST /images
MAX_BATCH_BYTES = 64 * 1024 * 1024  # the files of one POST /images together
DECODE_SLOTS = 3  # images decoded at once: each may take width x height x 3 bytes (up to MAX_PIXELS)
DECODE_WAIT_S = 30  # a request that cannot start decoding within this gets 503
MAX_LABEL = 64  # characters in a class label
MAX_NAME = 100  # characters kept of an uploaded file's name
Box = tuple[int, int, int, int]  # a crop: x0, y0, x1, y1 in pixels


class Busy(Exception):
    """No decoding slot freed in time."""


@dataclass(frozen=True)
class Limits:
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    max_pixels: int = MAX_PIXELS
    max_batch_files: int = MAX_BATCH_FILES
    max_batch_bytes: int = MAX_BATCH_BYTES
    decoding: threading.BoundedSemaphore = field(default_factory=lambda: threading.BoundedSemaphore(DECODE_SLOTS))


def read_upload(file: UploadFile, limit: int, name: str = "the upload") -> bytes:
    """The uploaded file's bytes; 413 over `limit` (the rest is never read). May be empty."""
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"{name} is over the limit of {limit:,} bytes")
    return data


def decode_upload(data: bytes, limits: Limits, size: int, crop: Box | None = None, *,
                  patient: bool = False) -> torch.Tensor:
    """uint8 (C, size, size) of uploaded bytes, decoded in one of the decoding slots (Busy when none frees in
    DECODE_WAIT_S, unless `patient`: then it waits its turn); our errors (NotAnImageError,
    ImageTooLargeError, DataError) for bad bytes or crops."""
    if not data:
        raise NotAnImageError("the file is empty")
    if not limits.decoding.acquire(timeout=None if patient else DECODE_WAIT_S):  # read at call time: tests shorten it
        raise Busy
    try:
        return decode_image(data, size, max_pixels=limits.max_pixels, crop=crop)
    finally:
        limits.decoding.release()


def decoded_query(data: bytes, limits: Limits, size: int, crop: Box | None = None) -> torch.Tensor:
    """decode_upload for a request: 400 empty, 415 not an image, 400 too large or a crop outside it, 503 busy."""
    if not data:
        raise HTTPException(400, "the upload is empty")
    try:
        return decode_upload(data, limits, size, crop)
    except Busy:
        raise HTTPException(503, "the service is busy decoding other images; try again shortly") from None
    except NotAnImageError as exc:
        raise HTTPException(415, str(exc)) from exc
    except DataError as exc:  # ImageTooLargeError, or a crop that does not fit
        raise HTTPException(400, str(exc)) from exc


def parse_crop(text: str | None) -> Box | None:
    """'x0,y0,x1,y1' (whole pixels) -> a tuple; None for none; 400 for anything else. Whether it fits the image
    is checked once the image is opened."""
    if text is None or not text.strip():
        return None
    parts = text.split(",")
    if len(parts) != 4 or not all(re.fullmatch(r"\s*\d{1,6}\s*", p) for p in parts):
        raise HTTPException(400, f"crop must be four whole numbers of pixels x0,y0,x1,y1 (left, top, right, bottom), "
                                 f"got {text[:60]!r}")
    x0, y0, x1, y1 = (int(p) for p in parts)
    if x0 >= x1 or y0 >= y1:
        raise HTTPException(400, f"crop {x0},{y0},{x1},{y1} is empty: it needs x0 < x1 and y0 < y1")
    return x0, y0, x1, y1


def check_label(text: str | None) -> str | None:
    """A class label as given (stripped); None for none or an empty one; 400 when too long or unprintable."""
    if text is None or not text.strip():
        return None
    label = text.strip()
    if len(label) > MAX_LABEL or not label.isprintable():
        raise HTTPException(400, f"a label must be at most {MAX_LABEL} printable characters, got {text[:80]!r}")
    return label


def labels_for(given: list[str], count: int) -> list[str | None]:
    """The label of each of `count` files: none given, one for all, or one per file (400 otherwise)."""
    labels = [check_label(g) for g in given]
    if not labels:
        return [None] * count
    if len(labels) == 1:
        return labels * count
    if len(labels) != count:
        raise HTTPException(400, f"give one label for all files or one per file: got {len(labels)} labels for "
                                 f"{count} files")
    return labels


def public_name(filename: str | None, number: int) -> str:
    """An uploaded file's name as the index keeps and shows it: its last part only (no folders), printable
    characters only, at most MAX_NAME of them; 'upload-N' when nothing is left. Never used as a path."""
    base = re.split(r"[/\\]", filename or "")[-1]
    base = "".join(c for c in base if c.isprintable()).strip()[:MAX_NAME]
    return base if base not in ("", ".", "..") else f"upload-{number + 1}"
