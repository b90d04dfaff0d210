"""Issue 24's benchmark: the DCGAN on a few hundred photos, and what each small-data method adds.

    python -m bench.generate_small --shared ../shared/data [--steps 240] [--width 0.25] [--sets subset,full]

Data: Flowers-17 at 64 px, all of it (1,360 photos) and a 345-photo subset (the GAN seed's size), each less
HOLDOUT photos kept out of training for the inversion test; both copied once under bench/out/ (never into git).
Rows (every one with the same number of generator steps, so a row's figures do not depend on the machine's
load; its seconds are recorded beside them):
  seed      the seed's recipe: Adam 1e-4 with Keras' betas, BCE with noisy targets, flip/zoom/rotation of the
            real images only
  dcgan     the DCGAN paper's Adam (2e-4, beta1 0.5), as cnnlab's default before issue 24
  +diffaug  dcgan with DiffAugment (color, translation, cutout) of real and generated images
  +ema      dcgan with the averaged generator (decay 0.999) scored
  +hinge    dcgan with the hinge loss
  +sn       dcgan with spectral norm in the discriminator (no BatchNorm)
  +r1       dcgan with the R1 penalty (gamma R1_GAMMA)
  default   cnnlab's default since issue 24 (see cnnlab.generate.config): +diffaug
  default+sn  the default with spectral norm
  diffaug-hflip  the default with the real images only mirrored
Each row: the FID-style and KID-style distances, precision and recall of 1,000 samples (or half the set) against
as many real photos, next to the real-vs-real floor of two disjoint halves; near copies among 64 samples; PSNR and
SSIM of the inversion of the held-out photos (the seed's 40 Adam steps), raw and averaged generator. The final
sample grid of each row goes to docs/img/ (the memorisation pairs, which show training photos, stay in the runs).

Writes bench/out/generate_small.json and prints the markdown table for docs/benchmarks.md.
--smoke (CI): two rows, one step each, on the tiny built-in flowers layout (bench/smoke.py), in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from bench.classify_cpu import machine
from bench.smoke import add_smoke, smoke_data, smoke_out
from cnnlab.data.augment_spec import AugmentConfig
from cnnlab.data.folders import collect_image_paths, image_tensor
from cnnlab.generate.config import OPTIMIZER_PRESETS, SEED_AUGMENT, GanConfig
from cnnlab.generate.latent import invert, load_generator, reconstruction_quality
from cnnlab.generate.training import train_gan

OUT = Path(__file__).parent / "out"
IMAGES = Path(__file__).parent.parent / "docs" / "img"
SUBSET = 345  # the GAN seed's photos of one dish
HOLDOUT = 16  # photos of each set never trained on: the inversion test
R1_GAMMA = 0.1


def rows(base: GanConfig) -> dict[str, GanConfig]:
    """The benchmark's configurations, by row name; `base` holds the data, size, width and budget."""
    d, g, b1, b2 = OPTIMIZER_PRESETS["seed"]
    plain = replace(base, loss="bce", diffaug="none", ema=0.0, spectral_norm=False, r1=0.0, augment=SEED_AUGMENT)
    return {
        "seed": replace(plain, lr_d=d, lr_g=g, beta1=b1, beta2=b2),
        "dcgan": plain,
        "+diffaug": replace(plain, diffaug="color,translation,cutout"),
        "+ema": replace(plain, ema=0.999),
        "+hinge": replace(plain, loss="hinge"),
        "+sn": replace(plain, spectral_norm=True),
        "+r1": replace(plain, r1=R1_GAMMA),
        "default": base,  # GanConfig's own defaults for everything the rows vary
        "default+sn": replace(base, spectral_norm=True),
        "diffaug-hflip": replace(base, augment=AugmentConfig(hflip=True)),  # real images only mirrored
    }


def split_photos(flowers: Path, out: Path, size: int | None, seed: int = 0) -> tuple[Path, list[Path]]:
    """OUT/train/ with `size` photos of the folder (all when None) less HOLDOUT, and the held-out photos' paths."""
    files = collect_image_paths([flowers])
    order = np.random.default_rng(seed).permutation(len(files))
    chosen = [files[i] for i in order[: (size or len(files))]]
    held, train = chosen[:HOLDOUT], chosen[HOLDOUT:]
    folder = out / "train"
    if not folder.is_dir() or len(list(folder.iterdir())) != len(train):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for i, path in enumerate(train):
            shutil.copyfile(path, folder / f"{i:04d}{path.suffix}")
    return folder, held


def inversion_quality(run: Path, held: list[Path], weights: str, steps: int) -> dict[str, float]:
    G, cfg = load_generator(run, torch.device("cpu"), weights)
    values = []
    for path in held:
        target = image_tensor(path, cfg.channels, cfg.image_size)
        result = invert(G, target, steps=steps)
        values.append(reconstruction_quality(target, result.strip[steps]))
    return {k: float(np.mean([v[k] for v in values])) for k in ("psnr", "ssim")}


def bench_set(name: str, flowers: Path, out: Path, images: Path, size: int | None, steps: int, width: float,
              only: list[str], invert_steps: int, health: int) -> list[dict]:
    folder, held = split_photos(flowers, out / name, size)
    photos = len(list(folder.iterdir()))
    epochs = max(1, math.ceil(steps / max(photos // 32, 1)))
    base = GanConfig(data=str(folder), image_size=64, width=width, epochs=epochs, health_samples=health,
                     sample_every=max(1, epochs // 4), device="cpu", runs_dir=str(out / "runs"))
    results = []
    for row, cfg in rows(base).items():
        if only and row not in only:
            continue
        cfg = replace(cfg, name=f"{name}-{row.lstrip('+')}")
        start = time.perf_counter()
        result = train_gan(cfg, overwrite=True)
        wall = time.perf_counter() - start
        s = result.summary
        quality = {w: inversion_quality(result.run.path, held, w, invert_steps) for w in ("raw", "ema")}
        shown = []
        grids = sorted((result.run.path / "epochs").glob("epoch_*.png"))
        # The memorisation pairs stay in the run folder: they hold training photos, which never go into git.
        for source, kind in ((grids[-1], "samples"),):
            target = images / f"gan-small-{name}-{row.lstrip('+')}-{kind}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            shown.append(target.name)
        results.append({"set": name, "photos": photos, "row": row, "epochs": s["epochs"],
                        "steps": sum(r["steps"] for r in result.history), "train_seconds": s["train_seconds"],
                        "wall_seconds": wall, "fid": s["fid"], "kid": s["kid"], "precision": s["precision"],
                        "recall": s["recall"], "floor": s["floor"], "fid_over_floor": s["fid_over_floor"],
                        "raw": s["raw"], "memorised": s["memorised"], "memorisation_samples": s["memorisation_samples"],
                        "inversion": quality, "score_samples": s["score_samples"], "features": s["features"],
                        "images": shown})
        print(json.dumps(results[-1]), flush=True)
    return results


def table(results: list[dict]) -> str:
    lines = ["| set | row | steps | train s | FID-style (floor) | x floor | KID-style | precision | recall (floor) | "
             "near copies | inversion PSNR / SSIM raw | EMA |", "|" + " --- |" * 12]
    for r in results:
        f = r["floor"]
        inv = r["inversion"]
        lines.append(f"| {r['set']} ({r['photos']}) | {r['row']} | {r['steps']} | {r['train_seconds']:.0f} | "
                     f"{r['fid']:.1f} ({f['fid']:.1f}) | {r['fid_over_floor']:.1f} | {r['kid']:.3f} | "
                     f"{r['precision']:.2f} | {r['recall']:.2f} ({f['recall']:.2f}) | "
                     f"{r['memorised']} / {r['memorisation_samples']} | {inv['raw']['psnr']:.1f} dB / "
                     f"{inv['raw']['ssim']:.3f} | {inv['ema']['psnr']:.1f} dB / {inv['ema']['ssim']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", default="../shared/data")
    parser.add_argument("--steps", type=int, default=240, help="generator steps per row")
    parser.add_argument("--width", type=float, default=0.25, help="filter counts x this in both networks")
    parser.add_argument("--sets", default="subset,full")
    parser.add_argument("--rows", default="", help="comma-separated row names (default: all)")
    parser.add_argument("--full-rows", default="seed,dcgan,default", help="rows run on the full set")
    add_smoke(parser)
    args = parser.parse_args()
    out, images, invert_steps, health = OUT / "generate_small", IMAGES, 40, 64
    only = [r for r in args.rows.split(",") if r]
    if args.smoke:
        out = smoke_out()
        images, invert_steps, health = out / "img", 2, 8
        args.shared, args.steps, args.width = str(smoke_data(out)), 1, 0.125
        only, args.full_rows = ["seed", "default"], "default"
    flowers = Path(args.shared) / "flowers17"
    results: dict = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "steps": args.steps,
                     "width": args.width, "rows": []}
    sets = args.sets.split(",")
    if "subset" in sets:
        results["rows"] += bench_set("flowers17-345", flowers, out, images, None if args.smoke else SUBSET,
                                     args.steps, args.width, only, invert_steps, health)
    if "full" in sets:
        results["rows"] += bench_set("flowers17", flowers, out, images, None, args.steps, args.width,
                                     [r for r in args.full_rows.split(",") if r], invert_steps, health)
    out.mkdir(parents=True, exist_ok=True)
    path = out.parent / "generate_small.json" if not args.smoke else out / "generate_small.json"
    if path.is_file():  # rows of earlier invocations are kept unless measured again
        new = {(r["set"], r["row"]) for r in results["rows"]}
        earlier = [r for r in json.loads(path.read_text())["rows"] if (r["set"], r["row"]) not in new]
        results["rows"] = earlier + results["rows"]
    path.write_text(json.dumps(results, indent=2))
    print(f"\n{results['machine']}, {results['date']}, {args.steps} generator steps a row, width {args.width}\n")
    print(table(results["rows"]))


if __name__ == "__main__":
    main()
