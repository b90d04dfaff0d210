"""Issue 12's memory benchmark: load a folder of 1,000 photos of 12 MP at 224 px, then load it again.

    python -m bench.load_folder [--photos 1000] [--folder /tmp/cnnlab-12mp] [--size 224]

Makes the photo folder first when it is not there (4000x3000 JPEGs, quality 90, cut and recoloured from
scikit-learn's two sample photos, 10 class folders), then runs each load in a fresh process and reports
the peak resident memory (VmHWM, reset after the imports) above that process's baseline and the wall
time. The first load decodes every file (and writes the cache), the second reads the cache. Prints a
markdown table and writes bench/out/load_folder.json.

--smoke (CI): 30 photos of 400x300 at 32 px, in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from bench.smoke import add_smoke, smoke_out

OUT = Path(__file__).parent / "out"
DISTINCT = 20  # distinct photos; the rest of the folder are copies (decoded as often as the originals)

CHILD = """
import json, sys, time
from cnnlab.data.datasets import DataConfig, load_dataset

def status(key):  # kB
    return int(next(line for line in open("/proc/self/status") if line.startswith(key)).split()[1])

open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to what is resident now
base = status("VmRSS:")
start = time.perf_counter()
data = load_dataset(DataConfig("folder:" + sys.argv[1], image_size=int(sys.argv[2])))
seconds = time.perf_counter() - start
peak = status("VmHWM:")
print(json.dumps({"seconds": seconds, "baseline_mib": base / 1024, "peak_above_baseline_mib": (peak - base) / 1024,
                  "images": len(data.train) + len(data.val) + len(data.test), "skipped": len(data.skipped)}))
"""


def make_photos(folder: Path, count: int, width: int = 4000, height: int = 3000) -> None:
    from sklearn.datasets import load_sample_images

    rng = np.random.default_rng(0)
    sources = [Image.fromarray(a) for a in load_sample_images().images]
    originals = []
    for i in range(DISTINCT):
        src = sources[i % 2]
        w, h = src.size
        box = (int(rng.integers(0, w // 4)), int(rng.integers(0, h // 4)), w, h)
        photo = src.crop(box).resize((width, height), Image.Resampling.BICUBIC)
        tint = np.asarray(photo, np.float32) * rng.uniform(0.7, 1.2, 3)
        noise = rng.normal(0, 6, (height, width, 1))  # sensor noise, so the JPEGs weigh what photos weigh
        originals.append(Image.fromarray(np.clip(tint + noise, 0, 255).astype(np.uint8)))
    for k in range(count):
        target = folder / f"class{k % 10}" / f"photo_{k:04d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        if k < DISTINCT:
            originals[k].save(target, quality=90)
        else:
            shutil.copyfile(folder / f"class{k % DISTINCT % 10}" / f"photo_{k % DISTINCT:04d}.jpg", target)


def load(folder: Path, size: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(folder), str(size)], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=1000)
    parser.add_argument("--folder", default="/tmp/cnnlab-12mp")
    parser.add_argument("--size", type=int, default=224)
    add_smoke(parser)
    args = parser.parse_args()
    out, side = OUT, (4000, 3000)
    if args.smoke:
        out, side = smoke_out(), (400, 300)
        args.photos, args.size, args.folder = 30, 32, str(out / "photos")
    folder = Path(args.folder)
    if not folder.is_dir() or sum(1 for _ in folder.rglob("*.jpg")) != args.photos:
        shutil.rmtree(folder, ignore_errors=True)
        make_photos(folder, args.photos, *side)
    shutil.rmtree(folder / ".cnnlab-cache", ignore_errors=True)
    first, second = load(folder, args.size), load(folder, args.size)
    megabytes = sum(p.stat().st_size for p in folder.rglob("*.jpg")) / 2**20
    record = {"photos": args.photos, "megapixels": side[0] * side[1] / 1e6, "folder_mib": megabytes, "size": args.size,
              "first": first, "cached": second, "speedup": first["seconds"] / second["seconds"]}
    out.mkdir(exist_ok=True)
    (out / "load_folder.json").write_text(json.dumps(record, indent=2))
    print(f"{args.photos} photos of {side[0]}x{side[1]} ({megabytes:.0f} MiB of JPEG) at {args.size} px\n")
    print("| load | seconds | peak memory above baseline (MiB) |\n| --- | --- | --- |")
    for name, r in (("first (decode, write cache)", first), ("second (cache)", second)):
        print(f"| {name} | {r['seconds']:.2f} | {r['peak_above_baseline_mib']:.0f} |")
    print(f"\ncached load {record['speedup']:.0f}x faster")


if __name__ == "__main__":
    main()
