"""Issue 6's CPU benchmark: the DCGAN on one CIFAR-10 class.

    python -m bench.generate_cpu --shared ../shared/data [--minutes 8] [--klass cat] [--only train,step64]

train: each run (both generators with the default dcgan Adam preset, and the transposed one with the seed's
    preset) trains on the class's 5,000 photos at 32 px for a fixed time budget; reports seconds per epoch,
    epochs done, the FID-style and KID-style distances and the diversity ratio at the end (in the feature space
    the run states), and copies the first and last fixed-noise grids to docs/img/.
step64: seconds per training step at the seed's 64 px for both generators (mean of 20 steps after 3 warm-up
    steps), and the epoch time that implies for 5,000 photos at batch 32.

Writes bench/out/generate_cpu.json and prints markdown tables for docs/benchmarks.md.

--smoke (CI): each run for a second or so (16 health samples an epoch) on one class of tiny built-in data
(bench/smoke.py), one step at 32 px, everything (grids included) in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch

from bench.classify_cpu import machine
from bench.smoke import add_smoke, smoke_data, smoke_out
from cnnlab.generate.config import OPTIMIZER_PRESETS, GanConfig
from cnnlab.generate.trainer import GanTrainer
from cnnlab.generate.training import train_gan

OUT = Path(__file__).parent / "out"
IMAGES = Path(__file__).parent.parent / "docs" / "img"
RUNS = (("transposed", "dcgan"), ("upsampling", "dcgan"), ("transposed", "seed"))


def config(out: Path, shared: Path, klass: str, generator: str, preset: str, minutes: float,
           health_samples: int = 256) -> GanConfig:
    d, g, b1, b2 = OPTIMIZER_PRESETS[preset]
    return GanConfig(data=f"cifar10:{klass}", data_dir=str(shared / "cifar10-jpeg"), image_size=32,
                     generator=generator, epochs=10_000, lr_d=d, lr_g=g, beta1=b1, beta2=b2,
                     max_seconds=minutes * 60, health_samples=health_samples, device="cpu", runs_dir=str(out / "runs"),
                     name=f"bench-{generator}-{preset}-{klass}")


def bench_train(out: Path, images: Path, shared: Path, klass: str, minutes: float, health_samples: int = 256
                ) -> list[dict]:
    rows = []
    images.mkdir(parents=True, exist_ok=True)
    for generator, preset in RUNS:
        result = train_gan(config(out, shared, klass, generator, preset, minutes, health_samples), overwrite=True)
        s = result.summary
        grids = sorted((result.run.path / "epochs").glob("epoch_*.png"))
        shown = []
        for grid in (grids[0], grids[-1]):
            target = images / f"gan-{generator}-{preset}-{klass}-{grid.stem}.png"
            shutil.copyfile(grid, target)
            shown.append(target.name)
        rows.append({"generator": generator, "preset": preset, "epochs": s["epochs"],
                     "seconds_per_epoch": s["seconds_per_epoch"], "train_seconds": s["train_seconds"],
                     "fid": s["fid"], "kid": s["kid"], "kid_std": s["kid_std"], "diversity": s["final_diversity"],
                     "features": s["features"], "grids": shown,
                     "diversity_by_epoch": [round(r["diversity"], 3) for r in result.history]})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def bench_step64(steps: int = 20, warm_up: int = 3, size: int = 64) -> list[dict]:
    rows = []
    for generator in ("transposed", "upsampling"):
        cfg = GanConfig(generator=generator, image_size=size, device="cpu")
        trainer = GanTrainer(cfg, torch.device("cpu"))
        g = torch.Generator().manual_seed(0)
        real = torch.rand(cfg.batch_size, 3, size, size, generator=g)
        for _ in range(warm_up):
            trainer.train_step(real, g)
        start = time.perf_counter()
        for _ in range(steps):
            trainer.train_step(real, g)
        per_step = (time.perf_counter() - start) / steps
        rows.append({"generator": generator, "seconds_per_step": per_step,
                     "seconds_per_epoch_5000": per_step * (5000 // cfg.batch_size),
                     "g_params": sum(p.numel() for p in trainer.G.parameters()),
                     "d_params": sum(p.numel() for p in trainer.D.parameters())})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", default="../shared/data")
    parser.add_argument("--klass", default="cat")
    parser.add_argument("--minutes", type=float, default=8.0, help="training time budget per run")
    parser.add_argument("--only", default="train,step64")
    add_smoke(parser)
    args = parser.parse_args()
    out, images, step, health = OUT, IMAGES, {}, 256
    if args.smoke:
        out = smoke_out()
        images, step, health = out / "img", {"steps": 1, "warm_up": 0, "size": 32}, 16
        args.shared, args.klass, args.minutes = str(smoke_data(out)), "digit3", 0.02
    only = set(args.only.split(","))
    results: dict = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "klass": args.klass,
                     "minutes": args.minutes}
    if "step64" in only:
        results["step64"] = bench_step64(**step)
    if "train" in only:
        results["train"] = bench_train(out, images, Path(args.shared), args.klass, args.minutes, health)
    out.mkdir(parents=True, exist_ok=True)
    (out / "generate_cpu.json").write_text(json.dumps(results, indent=2))
    print(f"\n{results['machine']}, {results['date']}\n")
    if "step64" in results:
        print("| generator (64 px, width 1) | G params | D params | s/step (batch 32) | s/epoch (5,000 photos) |")
        print("| --- | --- | --- | --- | --- |")
        for r in results["step64"]:
            print(f"| {r['generator']} | {r['g_params']:,} | {r['d_params']:,} | {r['seconds_per_step']:.3f} | "
                  f"{r['seconds_per_epoch_5000']:.0f} |")
    if "train" in results:
        print(f"\n| generator | Adam preset | epochs in {args.minutes:g} min | s/epoch | FID-style | KID-style | "
              "diversity |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for r in results["train"]:
            print(f"| {r['generator']} | {r['preset']} | {r['epochs']} | {r['seconds_per_epoch']:.1f} | "
                  f"{r['fid']:.1f} | {r['kid']:.4f} +- {r['kid_std']:.4f} | {r['diversity']:.2f} |")
        print(f"\nfeatures: {results['train'][0]['features']}")


if __name__ == "__main__":
    main()
