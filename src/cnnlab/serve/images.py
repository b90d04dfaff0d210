"""Routes that change the index or list what it holds.

POST /images (multipart: files, label) starts a job that adds them (202 with the job); GET /jobs/ID gives
its progress (done/total, state, an error per file that could not be read, the ids given). DELETE
/images/ID and POST /images/delete ({"ids": [...]}) remove items and answer once the index is saved.
GET /images?offset=&limit=&label= lists items by id: their label, public source name and thumbnail.
"""

from __future__ import annotations

import re

import numpy as np
from fastapi import FastAPI, File, Form, HTTPException, Response, UploadFile
from pydantic import BaseModel, Field, StrictInt

from cnnlab.errors import ConfigError
from cnnlab.index.core import MAX_ID
from cnnlab.index.filtered import label_rows
from cnnlab.serve.jobs import KEEP_JOBS, Job, QueueFull, Upload, Writer
from cnnlab.serve.library import Library, Snapshot
from cnnlab.serve.uploads import Limits, check_label, labels_for, public_name, read_upload

MAX_LIST = 200  # items per GET /images page
MAX_OFFSET = 10**9
MAX_REMOVE = 1000  # ids per POST /images/delete
REMOVE_WAIT_S = 60  # a removal answers once it is saved, or with its job (202) after this long
JOB_ID = re.compile(r"[0-9a-f]{32}")


class RemoveRequest(BaseModel):
    ids: list[StrictInt] = Field(..., description=f"ids of the items to remove (1 to {MAX_REMOVE})")


def image_routes(app: FastAPI, library: Library, writer: Writer, limits: Limits, *, read_only: bool) -> None:
    add_route(app, writer, limits, read_only=read_only)
    remove_routes(app, library, writer, read_only=read_only)
    list_routes(app, library, writer)


def writable(read_only: bool) -> None:
    if read_only:
        raise HTTPException(403, "this service is read-only (started with --read-only): images cannot be added "
                                 "or removed through it")


def submitted(writer: Writer, job: Job) -> Job:
    try:
        return writer.submit(job)
    except QueueFull:
        raise HTTPException(503, "the index is busy with other changes; try again shortly") from None


def add_route(app: FastAPI, writer: Writer, limits: Limits, *, read_only: bool) -> None:
    @app.post("/images", status_code=202)
    def add_images(files: list[UploadFile] = File(..., description="image files"),
                   label: list[str] = Form([], description="a class label for all the files, or one per file "
                                           "(optional; new labels become new classes)")) -> dict:
        """Add images to the index: starts a job that reads, embeds and saves them (GET its url for progress).
        A file that is not an image is reported in the job's errors; the others are added."""
        writable(read_only)
        if len(files) > limits.max_batch_files:
            raise HTTPException(413, f"at most {limits.max_batch_files} files per request, got {len(files)}")
        labels = labels_for(label, len(files))
        if writer.full():  # before the files are read into memory
            raise HTTPException(503, "the index is busy with other changes; try again shortly")
        uploads = []
        for number, (file, name) in enumerate(zip(files, labels, strict=True)):
            shown = public_name(file.filename, number)
            data = read_upload(file, limits.max_upload_bytes, f"file {number + 1} ({shown})")
            uploads.append(Upload(shown, data, name))
        return submitted(writer, Job("add", uploads=uploads)).to_dict()


def remove_routes(app: FastAPI, library: Library, writer: Writer, *, read_only: bool) -> None:
    @app.delete("/images/{item_id}")
    def remove_image(item_id: int, response: Response) -> dict:
        """Remove item `item_id`; answers once the index without it is saved (202 with the job if that takes
        longer than a minute)."""
        writable(read_only)
        if library.snapshot.index.row_of(item_id) is None:
            raise HTTPException(404, f"no gallery item {item_id} (removed, or never added)")
        job = waited(submitted(writer, Job("remove", ids=[item_id])), response)
        if job.missing:  # removed by another request meanwhile
            raise HTTPException(404, f"no gallery item {item_id} (removed, or never added)")
        return job.to_dict()

    @app.post("/images/delete")
    def remove_images(request: RemoveRequest, response: Response) -> dict:
        """Remove the items whose ids are given; ids the index does not hold are listed as missing."""
        writable(read_only)
        ids = list(dict.fromkeys(request.ids))
        if not 1 <= len(ids) <= MAX_REMOVE:
            raise HTTPException(400, f"give 1 to {MAX_REMOVE} ids, got {len(ids)}")
        if any(not 0 <= i < MAX_ID for i in ids):
            raise HTTPException(400, f"ids are whole numbers from 0 to {MAX_ID - 1}")
        return waited(submitted(writer, Job("remove", ids=ids)), response).to_dict()


def waited(job: Job, response: Response) -> Job:
    """The job once finished (500 when it failed), or as it is (202) after REMOVE_WAIT_S."""
    if not job.finished.wait(REMOVE_WAIT_S):
        response.status_code = 202
    elif job.state == "failed":
        raise HTTPException(500, job.message)
    return job


def list_routes(app: FastAPI, library: Library, writer: Writer) -> None:
    @app.get("/images")
    def list_images(offset: int = 0, limit: int = 50, label: str | None = None) -> dict:
        """The items in id order, `limit` (at most 200) from `offset`: id, label, public source name and
        thumbnail URL; with `label`, items of that class only."""
        if not 0 <= offset <= MAX_OFFSET:
            raise HTTPException(400, f"offset must be between 0 and {MAX_OFFSET:,}, got {offset}")
        if not 1 <= limit <= MAX_LIST:
            raise HTTPException(400, f"limit must be between 1 and {MAX_LIST}, got {limit}")
        snapshot, label = library.snapshot, check_label(label)
        try:
            rows = label_rows(snapshot.index, label) if label is not None else np.arange(len(snapshot.index))
        except ConfigError as exc:
            raise HTTPException(400, str(exc)) from exc
        items = [listed(snapshot, int(r)) for r in rows[offset:offset + limit]]
        return {"total": len(rows), "offset": offset, "limit": limit, "label": label, "items": items}

    @app.get("/jobs/{job_id}")
    def job_progress(job_id: str) -> dict:
        """A job's progress: state (queued, running, done, failed), files done of total, an error per file that
        could not be read, and the ids added or removed."""
        job = writer.get(job_id) if JOB_ID.fullmatch(job_id) else None
        if job is None:
            raise HTTPException(404, f"no job {job_id[:40]!r} (jobs are kept until {KEEP_JOBS} newer ones finish)")
        return job.to_dict()


def listed(snapshot: Snapshot, row: int) -> dict:
    item = snapshot.index.item(row)
    return {"id": item.id, "label": item.label, "source": snapshot.shown[row], "thumbnail": f"/thumbs/{item.id}.png"}
