"""Issue 6's CPU benchmark: the DCGAN on one CIFAR-10 class.

    python -m bench.generate_cpu --shared ../shared/data [--minutes 8] [--klass cat] [--only train,step64]

train: each run (both generators with the default dcgan Adam preset, and the transposed one with the seed's
    preset) trains on the class's 5,000 photos at 32 px for a fixed time budget; reports seconds per epoch,
    epochs done, the FID-style and KID-style distances and the diversity ratio at the end (in the feature space
    the run states), and copies the first and last fixed-noise grids to docs/img/.
step64: seconds per training step at the seed's 64 px for both generators (mean of 20 steps after 3 warm-up
    steps), and the epoch time that implies for 5,000 photos at batch 32.

Writes bench/out/generate_cpu.json and prints markdown tables for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch

from bench.classify_cpu import machine
from cnnlab.generate.config import OPTIMIZER_PRESETS, GanConfig
from cnnlab.generate.training import GanTrainer, train_gan

OUT = Path(__file__).parent / "out"
IMAGES = Path(__file__).parent.parent / "docs" / "img"
RUNS = (("transposed", "dcgan"), ("upsampling", "dcgan"), ("transposed", "seed"))


def config(shared: Path, klass: str, generator: str, preset: str, minutes: float) -> GanConfig:
    d, g, b1, b2 = OPTIMIZER_PRESETS[preset]
    return GanConfig(data=f"cifar10:{klass}", data_dir=str(shared / "cifar10-jpeg"), image_size=32,
                     generator=generator, epochs=10_000, lr_d=d, lr_g=g, beta1=b1, beta2=b2,
                     max_seconds=minutes * 60, device="cpu", runs_dir=str(OUT / "runs"),
                     name=f"bench-{generator}-{preset}-{klass}")


def bench_train(shared: Path, klass: str, minutes: float) -> list[dict]:
    rows = []
    IMAGES.mkdir(parents=True, exist_ok=True)
    for generator, preset in RUNS:
        result = train_gan(config(shared, klass, generator, preset, minutes), overwrite=True)
        s = result.summary
        grids = sorted((result.run.path / "epochs").glob("epoch_*.png"))
        shown = []
        for grid in (grids[0], grids[-1]):
            target = IMAGES / f"gan-{generator}-{preset}-{klass}-{grid.stem}.png"
            shutil.copyfile(grid, target)
            shown.append(target.name)
        rows.append({"generator": generator, "preset": preset, "epochs": s["epochs"],
                     "seconds_per_epoch": s["seconds_per_epoch"], "train_seconds": s["train_seconds"],
                     "fid": s["fid"], "kid": s["kid"], "kid_std": s["kid_std"], "diversity": s["final_diversity"],
                     "features": s["features"], "grids": shown,
                     "diversity_by_epoch": [round(r["diversity"], 3) for r in result.history]})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def bench_step64(steps: int = 20) -> list[dict]:
    rows = []
    for generator in ("transposed", "upsampling"):
        cfg = GanConfig(generator=generator, image_size=64, device="cpu")
        trainer = GanTrainer(cfg, torch.device("cpu"))
        g = torch.Generator().manual_seed(0)
        real = torch.rand(cfg.batch_size, 3, 64, 64, generator=g)
        for _ in range(3):
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
    args = parser.parse_args()
    only = set(args.only.split(","))
    results: dict = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "klass": args.klass,
                     "minutes": args.minutes}
    if "step64" in only:
        results["step64"] = bench_step64()
    if "train" in only:
        results["train"] = bench_train(Path(args.shared), args.klass, args.minutes)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "generate_cpu.json").write_text(json.dumps(results, indent=2))
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
