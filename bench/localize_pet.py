"""Issue 14's Pet benchmark: head boxes of the Oxford-IIIT Pet 3-breed copy, single object (species and breed)
and the grid detector, each on the same stored seeded split of the 296 boxed images, judged on its test part.

    python -m bench.localize_pet --shared ../shared/data [--only species,breed,detect] [--image-size 224]

Writes bench/out/localize_pet.json (one record per run) and prints a markdown table for docs/benchmarks.md.

--smoke (CI): each run for one epoch of each phase at 64 px on a tiny Pet layout (bench/smoke.py), in a temporary
folder.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import replace
from pathlib import Path

import torch

from bench.smoke import add_smoke, smoke_data, smoke_out
from cnnlab.localize.config import LocalizeConfig
from cnnlab.localize.training import train_localizer

OUT = Path(__file__).parent / "out"
RUNS = {"species": {"label": "species"}, "breed": {"label": "breed"}, "detect": {"head": "detect"}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", default="../shared/data")
    parser.add_argument("--only", default=",".join(RUNS))
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--freeze-epochs", type=int, default=3)
    parser.add_argument("--finetune-epochs", type=int, default=10)
    parser.add_argument("--max-seconds", type=float, default=600.0)  # the 10 minutes of training
    add_smoke(parser)
    args = parser.parse_args()
    out = OUT
    if args.smoke:
        out = smoke_out()
        args.shared, args.image_size, args.freeze_epochs, args.finetune_epochs = str(smoke_data(out)), 64, 1, 1
    base = LocalizeConfig(data=f"oxford-pet:{Path(args.shared) / 'oxford-pet-3breeds'}", image_size=args.image_size,
                          freeze_epochs=args.freeze_epochs, finetune_epochs=args.finetune_epochs,
                          max_seconds=args.max_seconds, runs_dir=str(out / "runs"))
    records = []
    for name in args.only.split(","):
        cfg = replace(base, **RUNS[name], name=f"pet-{name}-{args.image_size}")
        start = time.perf_counter()
        s = train_localizer(cfg, overwrite=True)
        records.append({"run": name, **{k: s.get(k) for k in ("head", "classes", "images", "epochs", "mean_iou",
                                                              "baseline_mean_iou", "acc50", "class_acc", "map50",
                                                              "map", "train_seconds", "seconds_per_epoch")},
                        "wall_seconds": time.perf_counter() - start, "image_size": args.image_size,
                        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads",
                        "date": time.strftime("%Y-%m-%d")})
    out.mkdir(exist_ok=True)
    (out / "localize_pet.json").write_text(json.dumps(records, indent=2))
    print("| run | classes | epochs | test mean IoU | mean box | acc@0.5 | class acc | mAP@0.5 | mAP@.5:.95 | "
          "train s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in records:
        print(f"| {r['run']} ({r['head']}) | {len(r['classes'])} | {r['epochs']} | {r['mean_iou']:.3f} | "
              f"{r['baseline_mean_iou']:.3f} | {r['acc50']:.1%} | {r['class_acc']:.1%} | {r['map50']:.3f} | "
              f"{r['map']:.3f} | {r['train_seconds']:.0f} |")


if __name__ == "__main__":
    main()
