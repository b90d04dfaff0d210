"""Issue 3's benchmark: few labels (100 per class of CIFAR-10, JPEG copy), the full test set, one time budget.

    python -m bench.transfer_cpu --shared ../shared/data [--input-size 96]

The pretrained EfficientNet-Lite0 run (frozen head, then fine-tuning) sets the budget T (its training seconds);
the other runs get T too: the same network from scratch, baseline-cnn from scratch, the pretrained network
with its backbone frozen throughout, and the lecture's learning rates (0.2 / 0.01). Writes
bench/out/transfer_cpu.json and prints a markdown table.

--smoke (CI): each row for one epoch a phase at 32 px on tiny built-in data (bench/smoke.py), in a temporary folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from bench.classify_cpu import OUT, machine
from bench.smoke import add_smoke, smoke_data, smoke_out
from cnnlab.classify.config import (
    LECTURE_FINETUNE_LR,
    LECTURE_FREEZE_LR,
    ClassifyConfig,
    transfer_phases,
)
from cnnlab.classify.training import train_classifier
from cnnlab.data.datasets import DataConfig
from cnnlab.train import FitConfig


def configs(out: Path, shared: Path, input_size: int, freeze: int, finetune: int) -> list[tuple[str, ClassifyConfig]]:
    data = DataConfig("cifar10", str(shared / "cifar10-jpeg"), train_per_class=100)
    base = ClassifyConfig(data=data, model="timm:efficientnet_lite0", pretrained=True, input_size=input_size,
                          fit=FitConfig(batch_size=32, phases=transfer_phases(freeze, finetune)),
                          runs_dir=str(out / "runs"))
    lecture = transfer_phases(freeze, finetune, freeze_lr=LECTURE_FREEZE_LR, finetune_lr=LECTURE_FINETUNE_LR)
    frozen_only = transfer_phases(1000, 0)  # as many head-only epochs as the budget allows
    scratch_fit = FitConfig(epochs=1000, batch_size=32)
    return [
        ("pretrained lite0, frozen then fine-tuned", dataclasses.replace(base, name="tl-finetuned")),
        ("pretrained lite0, frozen throughout", dataclasses.replace(
            base, fit=dataclasses.replace(base.fit, phases=frozen_only), name="tl-frozen")),
        ("pretrained lite0, the lecture's lr 0.2 / 0.01", dataclasses.replace(
            base, fit=dataclasses.replace(base.fit, phases=lecture), name="tl-lecture")),
        ("lite0 from scratch (Adam 1e-3)", dataclasses.replace(base, pretrained=False, fit=scratch_fit,
                                                               name="tl-scratch")),
        ("baseline-cnn from scratch (Adam 1e-3, 32x32)", dataclasses.replace(
            base, model="baseline-cnn", pretrained=False, input_size=None, fit=scratch_fit, name="tl-baseline")),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--input-size", type=int, default=96)
    parser.add_argument("--freeze-epochs", type=int, default=3)
    parser.add_argument("--finetune-epochs", type=int, default=5)
    parser.add_argument("--budget", type=float, help="seconds; default: what the first (fine-tuned) run takes")
    parser.add_argument("--rows", default=None, help="comma-separated row numbers to run (0 = the fine-tuned run)")
    add_smoke(parser)
    args = parser.parse_args()
    out = OUT
    if args.smoke:
        out = smoke_out()
        args.shared, args.input_size, args.freeze_epochs, args.finetune_epochs = str(smoke_data(out)), 32, 1, 1
        args.budget = 3.0
    out.mkdir(exist_ok=True)
    records, budget = [], args.budget
    rows = configs(out, Path(args.shared), args.input_size, args.freeze_epochs, args.finetune_epochs)
    for i, (label, cfg) in enumerate(rows):
        if args.rows is not None and str(i) not in args.rows.split(","):
            continue
        if budget is not None:
            cfg = dataclasses.replace(cfg, fit=dataclasses.replace(cfg.fit, max_seconds=budget))
        start = time.perf_counter()
        s = train_classifier(cfg, overwrite=True).summary
        budget = budget or s["train_seconds"]
        records.append({"run": label, "test_acc": s["test_acc"], "train_s": s["train_seconds"], "epochs": s["epochs"],
                        "s_per_epoch": s["seconds_per_epoch"], "trainable": s["trainable_params"],
                        "wall_s": time.perf_counter() - start})
        (out / f"transfer_cpu{'_rows' + args.rows.replace(',', '_') if args.rows else ''}.json").write_text(json.dumps(
            {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "input_size": args.input_size,
             "budget_s": budget, "records": records}, indent=2))
    print(f"machine: {machine()}; budget {budget:.0f} s of training; input {args.input_size}px")
    print("| run | test acc | epochs | train s | s/epoch | trainable |\n| --- | --- | --- | --- | --- | --- |")
    for r in records:
        print(f"| {r['run']} | {r['test_acc']:.2%} | {r['epochs']} | {r['train_s']:.0f} | {r['s_per_epoch']:.1f} "
              f"| {r['trainable']:,} |")


if __name__ == "__main__":
    main()
