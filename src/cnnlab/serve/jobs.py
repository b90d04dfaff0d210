"""Changes to the index, made by one writer thread, one job after another.

An add job decodes its files one at a time (in the service's decoding slots, at the index's read size, the
uploaded bytes dropped as soon as they are decoded), embeds them EMBED_BATCH at a time (the model is shared
with the searches: they wait for one batch at most), then makes the new index beside the one in use, saves it
as a new generation of the folder (one atomic rename: a crash leaves the old index or the new one) and puts
it in place. Remove jobs waiting together are made in one change. GET /jobs/ID reads a job's progress.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from cnnlab.data.images import convert_channels
from cnnlab.errors import DataError
from cnnlab.index.edit import Edit, NewItems, edited
from cnnlab.serve.library import Library

EMBED_BATCH = 32  # new images embedded at once
MAX_PENDING = 4  # jobs waiting for the writer; more are refused (503) so queued uploads stay bounded
KEEP_JOBS = 1000  # finished jobs remembered for GET /jobs/ID
SAVE_FAILED = "the index could not be saved; nothing was changed (the service's log says why)"
log = logging.getLogger("cnnlab.serve")


@dataclass
class Upload:
    name: str  # shown to visitors, never used as a path
    data: bytes | None  # dropped once decoded
    label: str | None


@dataclass
class Job:
    kind: str  # "add" or "remove"
    uploads: list[Upload] = field(default_factory=list, repr=False)
    ids: list[int] = field(default_factory=list)  # to remove
    id: str = field(default_factory=lambda: secrets.token_hex(16))
    state: str = "queued"  # queued, running, done, failed
    done: int = 0
    errors: list[dict] = field(default_factory=list)  # {"file": number, "name": ..., "error": ...}
    added: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)
    message: str = ""
    finished: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def total(self) -> int:
        return len(self.uploads) if self.kind == "add" else len(self.ids)

    def to_dict(self) -> dict:
        out = {"job": self.id, "kind": self.kind, "state": self.state, "done": self.done, "total": self.total,
               "errors": self.errors, "message": self.message, "url": f"/jobs/{self.id}"}
        return {**out, **({"added": self.added} if self.kind == "add" else
                          {"removed": self.removed, "missing": self.missing})}

    def finish(self, state: str, message: str = "") -> None:
        self.state, self.message = state, message
        if state == "done" and self.kind == "remove":
            self.done = self.total
        for upload in self.uploads:
            upload.data = None
        self.finished.set()


class QueueFull(Exception):
    """MAX_PENDING jobs are waiting already."""


class Writer:
    """The one thread that changes the index of `library` (started with the first job)."""

    def __init__(self, library: Library, decode: Callable[[bytes], torch.Tensor],
                 max_pending: int = MAX_PENDING) -> None:
        self.library, self.decode, self.max_pending = library, decode, max_pending
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self.pending: deque[Job] = deque()
        self.wake = threading.Condition()
        self.thread: threading.Thread | None = None

    def submit(self, job: Job) -> Job:
        with self.wake:
            if len(self.pending) >= self.max_pending:
                raise QueueFull
            self.pending.append(job)
            self.jobs[job.id] = job
            while len(self.jobs) > KEEP_JOBS and next(iter(self.jobs.values())).finished.is_set():
                self.jobs.popitem(last=False)
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="cnnlab-index-writer", daemon=True)
                self.thread.start()
            self.wake.notify()
        return job

    def full(self) -> bool:
        with self.wake:
            return len(self.pending) >= self.max_pending

    def get(self, job_id: str) -> Job | None:
        with self.wake:
            return self.jobs.get(job_id)

    def _next(self) -> list[Job]:
        """The next job, or every remove job waiting when the next is one (they are made as one change)."""
        with self.wake:
            while not self.pending:
                self.wake.wait()
            first = self.pending.popleft()
            if first.kind != "remove":
                return [first]
            more = [j for j in self.pending if j.kind == "remove"]
            self.pending = deque(j for j in self.pending if j.kind != "remove")
            return [first, *more]

    def _run(self) -> None:
        while True:
            jobs = self._next()
            try:
                for job in jobs:
                    job.state = "running"
                self._add(jobs[0]) if jobs[0].kind == "add" else self._remove(jobs)
            except Exception:  # the index stays as it was; the visitor learns that, the log learns why
                log.exception("cnnlab serve: a change to the index failed")
                for job in jobs:
                    job.finish("failed", SAVE_FAILED)

    def _add(self, job: Job) -> None:
        vectors, images, kept = [], [], []
        for start in range(0, len(job.uploads), EMBED_BATCH):
            batch = []
            for number in range(start, min(start + EMBED_BATCH, len(job.uploads))):
                image = self._decoded(job, number)
                if image is not None:
                    batch.append(image)
                    kept.append(job.uploads[number])
            if batch:
                vectors.append(self.library.embed(batch))
                images += batch
            job.done = min(start + EMBED_BATCH, len(job.uploads))
        if not kept:
            job.finish("done", "no image could be read; nothing was added")
            return
        channels = self.library.snapshot.index.thumbs.shape[3] if len(self.library.snapshot.index) else None
        items = NewItems(np.concatenate(vectors), [u.label for u in kept], [f"upload:{u.name}" for u in kept],
                         stacked(images, channels))
        change = self._commit(edited(self.library.snapshot.index, add=items))
        job.added = change.added
        job.finish("done")

    def _decoded(self, job: Job, number: int) -> torch.Tensor | None:
        upload = job.uploads[number]
        try:
            return self.decode(upload.data or b"")
        except DataError as exc:
            job.errors.append({"file": number, "name": upload.name, "error": str(exc)})
            return None
        finally:
            upload.data = None

    def _remove(self, jobs: list[Job]) -> None:
        wanted = sorted({i for job in jobs for i in job.ids})
        change = self._commit(edited(self.library.snapshot.index, remove=wanted))
        gone = set(change.removed)
        for job in jobs:
            job.removed = [i for i in job.ids if i in gone]
            job.missing = [i for i in job.ids if i not in gone]
            job.finish("done")

    def _commit(self, change: Edit) -> Edit:
        if change.added or change.removed:
            change.index.save(self.library.folder)
            self.library.publish(change.index)
        return change


def stacked(images: list[torch.Tensor], channels: int | None) -> torch.Tensor:
    """uint8 images (C, S, S) of one side, grey or colour -> (N, C', S, S) with the gallery's `channels` (the
    first image's when None)."""
    channels = channels or images[0].shape[0]
    return torch.cat([convert_channels(x.unsqueeze(0), channels) for x in images])
