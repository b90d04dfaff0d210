"""Load test of a changing index (issue 16): searches while images are added and removed through the API.

    python -m bench.serve_changes [--shared ../shared/data] [--images 50000] [--clients 8] [--changes 1000]
                                  [--batch 50] [--seconds 20] [--image-size 16]

Builds a raw-pixel index of --images CIFAR-10 training JPEGs (../shared/data/cifar10-jpeg/train.npz, each
read as the service reads an upload, at --image-size px: 3 x 16 x 16 = 768-d vectors, exact search; random
images when the file is not there), starts `python -m cnnlab serve` (this checkout's) on a free loopback
port and runs --clients threads posting CIFAR-10 test JPEGs to POST /search (k=10; 20% with a label filter,
10% with dedupe) while, at the same time, one client adds --changes test images (POST /images, --batch files
per job, labelled, following GET /jobs/ID) and another removes --changes of the original images (POST
/images/delete, --batch ids a request). Searches go on until both are done and --seconds have passed.
Prints requests/s and latency percentiles per kind of search, how long the changes took, every failure (must
be none), and checks the index the service ends with. Writes bench/out/serve_changes.json.

--smoke (CI): 300 images, 2 clients searching with 20 images, 40 added and 40 removed in jobs of 20, 2 seconds,
in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from bench.serve_load import OUT, encode, free_port, memory
from bench.smoke import add_smoke, smoke_data, smoke_out

ROOT = Path(__file__).resolve().parents[1]
KINDS = {"plain": 0.7, "label": 0.2, "dedupe": 0.1}


def cifar(shared: Path | None, split: str, count: int, seed: int = 0) -> tuple[list[bytes], list[str]]:
    """`count` JPEGs of a CIFAR-10 split as bytes, with their class names (random images if the file is absent)."""
    path = shared / "cifar10-jpeg" / f"{split}.npz" if shared else None
    if path is not None and path.is_file():
        with np.load(path, allow_pickle=False) as npz:
            blob, offsets, labels = npz["jpeg"], npz["offsets"], npz["labels"]
            classes = [str(c) for c in npz["classes"]]
        count = min(count, len(labels))
        return ([blob[offsets[i]:offsets[i + 1]].tobytes() for i in range(count)],
                [classes[int(labels[i])] for i in range(count)])
    from PIL import Image

    rng = np.random.default_rng(seed)
    images = [encode(Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)), "JPEG") for _ in range(count)]
    return images, [f"class{i % 10}" for i in range(count)]


def build_index(shared: Path | None, count: int, size: int, folder: Path) -> str:
    """A raw-pixel index of `count` CIFAR-10 training images at `size` px in `folder` (kept between runs)."""
    sys.path.insert(0, str(ROOT / "src"))
    import torch

    from cnnlab.index.core import EmbeddingIndex
    from cnnlab.index.embedders import PixelEmbedder
    from cnnlab.index.gallery import decode_image

    if (folder / "meta.json").is_file():
        return json.loads((folder / "meta.json").read_text())["embedder"]["kind"]
    jpegs, labels = cifar(shared, "train", count)
    embedder = PixelEmbedder(3, size)
    index = EmbeddingIndex.create(embedder.dim, embedder.reference(), n_expected=len(jpegs), read_size=size)
    for start in range(0, len(jpegs), 5000):
        images = torch.stack([decode_image(j, size) for j in jpegs[start:start + 5000]])  # (B, 3, S, S)
        index.add(embedder.embed_images(images), labels[start:start + 5000],
                  [f"cifar10:train:{i}" for i in range(start, start + len(images))], images)
        print(f"indexed {start + len(images):,} of {len(jpegs):,}", flush=True)
    index.save(folder)
    return "pixels"


def start_server(index: Path, port: int, log: Path) -> subprocess.Popen:
    """`python -m cnnlab serve` of this checkout (its src first on PYTHONPATH), once it answers /info."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH"))
                                                        if p)}
    server = subprocess.Popen([sys.executable, "-m", "cnnlab", "serve", str(index), "--port", str(port), "--device",
                               "cpu"], stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}; see {log}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/info", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    server.kill()
    raise SystemExit(f"the server did not answer within 300 s; see {log}")


class Record:
    """What every client did, shared between threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.searches: list[tuple[str, float, int]] = []  # (kind, seconds, status)
        self.changes: list[tuple[str, float, int]] = []  # (add|remove, seconds for the batch, images)
        self.failures: list[str] = []

    def fail(self, what: str) -> None:
        with self.lock:
            self.failures.append(what)


def searcher(base: str, queries: list[bytes], classes: list[str], record: Record, stop: threading.Event,
             seed: int) -> None:
    rng, mine = random.Random(seed), []
    with httpx.Client(base_url=base, timeout=120) as http:
        while not stop.is_set():
            kind = rng.choices(list(KINDS), weights=list(KINDS.values()))[0]
            fields = {"k": "10", **({"label": rng.choice(classes)} if kind == "label" else {}),
                      **({"dedupe": "true"} if kind == "dedupe" else {})}
            start = time.perf_counter()
            response = http.post("/search", files={"file": ("q.jpg", rng.choice(queries), "image/jpeg")}, data=fields)
            mine.append((kind, time.perf_counter() - start, response.status_code))
            if response.status_code != 200:
                record.fail(f"search {kind}: {response.status_code} {response.text[:200]}")
    with record.lock:
        record.searches.extend(mine)


def adder(base: str, images: list[bytes], labels: list[str], batch: int, record: Record) -> None:
    with httpx.Client(base_url=base, timeout=300) as http:
        for start in range(0, len(images), batch):
            files = [("files", (f"test-{i}.jpg", images[i], "image/jpeg")) for i in range(start, start + batch)
                     if i < len(images)]
            began = time.perf_counter()
            response = http.post("/images", files=files, data={"label": labels[start:start + len(files)]})
            if response.status_code != 202:
                record.fail(f"add: {response.status_code} {response.text[:200]}")
                continue
            job = response.json()
            while job["state"] not in ("done", "failed"):
                time.sleep(0.1)
                job = http.get(job["url"]).json()
            if job["state"] != "done" or job["errors"] or len(job["added"]) != len(files):
                record.fail(f"add job: {json.dumps(job)[:300]}")
            with record.lock:
                record.changes.append(("add", time.perf_counter() - began, len(job.get("added", []))))


def remover(base: str, ids: list[int], batch: int, record: Record) -> None:
    with httpx.Client(base_url=base, timeout=300) as http:
        for start in range(0, len(ids), batch):
            chosen = ids[start:start + batch]
            began = time.perf_counter()
            response = http.post("/images/delete", json={"ids": chosen})
            body = response.json()
            if response.status_code != 200 or body.get("missing") or len(body.get("removed", [])) != len(chosen):
                record.fail(f"remove: {response.status_code} {json.dumps(body)[:300]}")
            with record.lock:
                record.changes.append(("remove", time.perf_counter() - began, len(body.get("removed", []))))


def run_load(base: str, args: argparse.Namespace, shared: Path | None, count: int) -> tuple[Record, dict]:
    """Search clients until the adder and the remover are done and --seconds have passed."""
    queries, _ = cifar(shared, "test", args.queries, seed=1)
    new, new_labels = cifar(shared, "test", args.queries + args.changes, seed=2)
    if len(new) < args.queries + args.changes:
        raise SystemExit(f"the test split holds {len(new)} images: too few for {args.queries} queries and "
                         f"{args.changes} new images; lower --queries or --changes")
    classes = sorted(set(new_labels))
    gone = random.Random(0).sample(range(count), args.changes)
    record, stop = Record(), threading.Event()
    clients = [threading.Thread(target=searcher, args=(base, queries, classes, record, stop, i))
               for i in range(args.clients)]
    changers = [threading.Thread(target=adder, args=(base, new[args.queries:], new_labels[args.queries:], args.batch,
                                                          record)),
                threading.Thread(target=remover, args=(base, gone, args.batch, record))]
    began = time.perf_counter()
    for t in clients + changers:
        t.start()
    for t in changers:
        t.join()
    changes_s = time.perf_counter() - began
    time.sleep(max(0.0, args.seconds - changes_s))
    stop.set()
    for t in clients:
        t.join()
    return record, {"changes_s": changes_s, "search_s": time.perf_counter() - began, "removed_ids": gone}


def check_end(base: str, count: int, removed: list[int], record: Record) -> int:
    """The service ends with `count` images (as many added as removed), and none of the removed ones."""
    with httpx.Client(base_url=base, timeout=60) as http:
        final = http.get("/info").json()["count"]
        if final != count:
            record.fail(f"the index ends with {final} images, not {count}")
        for item_id in removed[:20]:
            if http.get(f"/thumbs/{item_id}.png").status_code != 404:
                record.fail(f"removed item {item_id} still has a thumbnail")
    return final


def percentiles(seconds: list[float]) -> dict:
    ms = np.array(seconds) * 1000 if seconds else np.zeros(1)
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)), "max_ms": float(ms.max())}


def summarise(record: Record, times: dict) -> dict:
    rows = []
    for kind in [*KINDS, "all"]:
        mine = [r for r in record.searches if kind in ("all", r[0])]
        rows.append({"kind": kind, "requests": len(mine), "per_s": len(mine) / times["search_s"],
                     **percentiles([r[1] for r in mine]), "failed": sum(r[2] != 200 for r in mine)})
    changes = {}
    for kind in ("add", "remove"):
        mine = [r for r in record.changes if r[0] == kind]
        images = sum(r[2] for r in mine)
        changes[kind] = {"images": images, "requests": len(mine), "images_per_s": images / times["changes_s"],
                         **percentiles([r[1] for r in mine])}
    return {"searches": rows, "changes": changes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--images", type=int, default=50_000, help="images in the index at the start")
    parser.add_argument("--clients", type=int, default=8, help="concurrent search clients")
    parser.add_argument("--changes", type=int, default=1000, help="images added, and images removed")
    parser.add_argument("--queries", type=int, default=500, help="distinct test images the clients search with")
    parser.add_argument("--batch", type=int, default=50, help="images per add job, ids per removal request")
    parser.add_argument("--seconds", type=float, default=20.0, help="least time the searches run")
    parser.add_argument("--image-size", type=int, default=16, help="side images are read at (pixel embedding)")
    add_smoke(parser)
    args = parser.parse_args()
    args.out = OUT
    if args.smoke:
        args.out = smoke_out()
        args.shared, args.images, args.clients, args.changes = smoke_data(args.out), 300, 2, 40
        args.batch, args.seconds, args.queries = 20, 2.0, 20
    shared = args.shared if args.shared.is_dir() else None
    work = args.out / "serve_changes"
    work.mkdir(parents=True, exist_ok=True)
    index = work / f"index-{args.images}-{args.image_size}px"
    pristine = work / "index-run"
    build_index(shared, args.images, args.image_size, index)
    count = json.loads((index / "meta.json").read_text())["count"]
    shutil.rmtree(pristine, ignore_errors=True)  # each run changes a copy, not the built index
    shutil.copytree(index, pristine)
    port = free_port()
    server = start_server(pristine, port, work / "server.log")
    base = f"http://127.0.0.1:{port}"
    try:
        warm_up = cifar(shared, "test", 1)[0][0]
        httpx.post(f"{base}/search", files={"file": ("q", warm_up)}, timeout=60).raise_for_status()
        record, times = run_load(base, args, shared, count)
        final = check_end(base, count, times["removed_ids"], record)
        rss = memory(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)
    report(args, shared, count, final, record, times, rss)


def report(args, shared, count, final, record, times, rss) -> None:
    source = "CIFAR-10 train JPEGs" if shared and (shared / "cifar10-jpeg").is_dir() else "random images"
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
              "date": time.strftime("%Y-%m-%d %H:%M %Z"),
              "gallery": f"{count:,} {source}, raw pixels 3x{args.image_size}x{args.image_size}, exact search",
              "clients": args.clients, "changes": args.changes, "batch": args.batch, "final_count": final,
              "changes_s": times["changes_s"], "search_s": times["search_s"], **summarise(record, times),
              "rss_mib": rss, "failures": record.failures}
    (args.out / "serve_changes.json").write_text(json.dumps(result, indent=2))
    print(f"{result['machine']}, {result['date']}; gallery {result['gallery']}; {args.clients} search clients for "
          f"{times['search_s']:.1f} s; {args.changes} added and {args.changes} removed in {times['changes_s']:.1f} s")
    print("| search | requests | req/s | p50 ms | p99 ms | max ms | failed |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in result["searches"]:
        print(f"| {r['kind']} | {r['requests']:,} | {r['per_s']:.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
              f"{r['max_ms']:.0f} | {r['failed']} |")
    for kind, c in result["changes"].items():
        print(f"{kind}: {c['images']:,} images in {c['requests']} requests, {c['images_per_s']:.1f} images/s, "
              f"per request p50 {c['p50_ms']:.0f} ms, p99 {c['p99_ms']:.0f} ms")
    print(f"index at the end: {final:,} images (expected {count:,}); server RSS (MiB): {rss}")
    print(f"failures: {len(record.failures)}" + "".join(f"\n  {f}" for f in record.failures[:20]))
    if record.failures:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
