"""Load test of the search service (issue 12): `cnnlab serve` under concurrent clients.

    python -m bench.serve_load [--shared ../shared/data] [--clients 8] [--seconds 25] [--model pixels|RUN]

Builds an index with the real command (`cnnlab similarity index MODEL --data fashion-mnist`, from the
Fashion-MNIST files in --shared, else the built-in digits), starts `python -m cnnlab serve` on a free
loopback port, and runs --clients threads (httpx), each posting real images to POST /search (k=10) as
fast as answers come, for --seconds: Fashion-MNIST test images as PNG (85%), Flowers-17 photos as JPEG
(10%) and Flowers-17 photos upscaled to 4000x3000 JPEG (5%, ~2 MB each: the decode-bound case). Prints
requests/s, latency percentiles per kind and the server process's resident memory (VmRSS) after warm-up
and after the load, and its peak (VmHWM). Writes bench/out/serve_load.json.

--smoke (CI): tiny built-in data (bench/smoke.py), 2 clients for 2 seconds, in a temporary folder.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from bench.smoke import add_smoke, smoke_data, smoke_out

OUT = Path(__file__).parent / "out"
SHARES = {"fashion png": 0.85, "flower jpeg": 0.10, "12 MP jpeg": 0.05}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in MiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) // 1024
    return fields


def encode(img: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def build_index(shared: Path | None, model: str, work: Path) -> tuple[Path, str, list[bytes]]:
    """The index folder, a description of its gallery, and PNG queries from the dataset's test split."""
    from cnnlab.data.datasets import DataConfig, load_dataset

    fashion = shared / "fashion-mnist-subset" if shared else None
    name, data_dir = ("fashion-mnist", str(fashion)) if fashion and fashion.is_dir() else ("digits", None)
    index = work / "index"
    if not (index / "meta.json").is_file():
        command = [sys.executable, "-m", "cnnlab", "similarity", "index", model, "--data", name, "--out", str(index),
                   "--device", "cpu"] + (["--data-dir", data_dir] if data_dir else [])
        subprocess.run(command, check=True)
    test = load_dataset(DataConfig(name, data_dir)).test
    queries = [encode(Image.fromarray(x[0].numpy() if x.shape[0] == 1 else x.permute(1, 2, 0).numpy()), "PNG")
               for x in test.images[:300]]
    count = json.loads((index / "meta.json").read_text())["count"]
    return index, f"{name} ({count:,} images, {model})", queries


def photo_queries(shared: Path | None) -> tuple[list[bytes], list[bytes]]:
    """Flowers-17 JPEGs as they are, and a few upscaled to 4000x3000 (else synthetic stand-ins)."""
    folder = shared / "flowers17" if shared else None
    files = sorted(folder.rglob("*.jpg"))[::13][:100] if folder and folder.is_dir() else []
    if files:
        photos = [f.read_bytes() for f in files]
        sources = [Image.open(f).convert("RGB") for f in files[:4]]
    else:
        rng = np.random.default_rng(0)
        sources = [Image.fromarray(rng.integers(0, 256, (180, 240, 3), dtype=np.uint8)) for _ in range(4)]
        photos = [encode(s, "JPEG", quality=90) for s in sources]
    large = [encode(s.resize((4000, 3000), Image.Resampling.BICUBIC), "JPEG", quality=90) for s in sources]
    return photos, large


def start_server(index: Path, port: int, log: Path) -> subprocess.Popen:
    server = subprocess.Popen([sys.executable, "-m", "cnnlab", "serve", str(index), "--port", str(port),
                               "--device", "cpu"], stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
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
    raise SystemExit(f"the server did not answer within 180 s; see {log}")


def load(port: int, kinds: dict[str, list[bytes]], clients: int, seconds: float) -> list[tuple[str, float, int]]:
    """Each client posts until the deadline; returns (kind, seconds, status) per request."""
    records: list[tuple[str, float, int]] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(seed: int) -> None:
        rng = random.Random(seed)
        mine = []
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            while time.monotonic() < deadline:
                kind = rng.choices(list(SHARES), weights=list(SHARES.values()))[0]
                data = rng.choice(kinds[kind])
                start = time.perf_counter()
                response = http.post("/search", files={"file": ("q", data, "application/octet-stream")},
                                     data={"k": "10"})
                mine.append((kind, time.perf_counter() - start, response.status_code))
        with lock:
            records.extend(mine)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return records


def summarise(records: list[tuple[str, float, int]], seconds: float) -> list[dict]:
    rows = []
    for kind in [*SHARES, "all"]:
        mine = [r for r in records if kind in ("all", r[0])]
        if not mine:
            continue
        ms = np.array([r[1] for r in mine]) * 1000
        rows.append({"kind": kind, "requests": len(mine), "per_s": len(mine) / seconds,
                     "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
                     "max_ms": float(ms.max()), "errors": sum(r[2] != 200 for r in mine)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=25.0)
    parser.add_argument("--model", default="pixels", help="pixels, or a similarity run folder")
    add_smoke(parser)
    args = parser.parse_args()
    out = OUT
    if args.smoke:
        out = smoke_out()
        args.shared, args.clients, args.seconds = smoke_data(out), 2, 2.0
    work = out / "serve_load"
    work.mkdir(parents=True, exist_ok=True)
    shared = args.shared if args.shared.is_dir() else None
    index, gallery, pngs = build_index(shared, args.model, work)
    photos, large = photo_queries(shared)
    kinds = {"fashion png": pngs, "flower jpeg": photos, "12 MP jpeg": large}
    port = free_port()
    server = start_server(index, port, work / "server.log")
    try:
        for data in (pngs[0], photos[0], large[0]):  # warm-up: model, first decode of each kind
            httpx.post(f"http://127.0.0.1:{port}/search", files={"file": ("q", data)}, timeout=60).raise_for_status()
        before = memory(server.pid)
        records = load(port, kinds, args.clients, args.seconds)
        after = memory(server.pid)
        time.sleep(3)
        idle = memory(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
              "date": time.strftime("%Y-%m-%d %H:%M %Z"), "gallery": gallery, "clients": args.clients,
              "seconds": args.seconds, "rows": summarise(records, args.seconds),
              "rss_mib": {"after warm-up": before["VmRSS"], "after load": after["VmRSS"],
                          "3 s later": idle["VmRSS"], "peak": after["VmHWM"]}}
    (out / "serve_load.json").write_text(json.dumps(result, indent=2))
    print(f"{result['machine']}, {result['date']}; gallery {gallery}; {args.clients} clients for {args.seconds:g} s")
    print("| upload | requests | req/s | p50 ms | p99 ms | max ms | errors |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in result["rows"]:
        print(f"| {r['kind']} | {r['requests']:,} | {r['per_s']:.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
              f"{r['max_ms']:.0f} | {r['errors']} |")
    print("server RSS (MiB): " + ", ".join(f"{k} {v}" for k, v in result["rss_mib"].items()))


if __name__ == "__main__":
    main()
