"""Issue 2's CPU benchmarks: quickstart wall time, baseline-cnn on CIFAR-10 (JPEG copy) for 20 epochs with
and without augmentation, fashion-cnn and densenet-seed on the Fashion-MNIST files.

    python -m bench.classify_cpu --shared ../shared/data [--only quickstart,cifar,fashion]

Writes bench/out/classify_cpu.json (one record per run) and prints a markdown table for docs/benchmarks.md.

--smoke (CI): the quickstart for one epoch and each run but densenet-seed's (bench.speed smokes it) for one epoch
on tiny built-in data (bench/smoke.py), written to a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

from bench.smoke import add_smoke, smoke_data, smoke_out
from cnnlab.classify.config import ClassifyConfig
from cnnlab.classify.training import train_classifier
from cnnlab.data.augment import parse_augment
from cnnlab.data.datasets import DataConfig
from cnnlab.train import FitConfig

OUT = Path(__file__).parent / "out"

# name -> (dataset, folder under --shared, model, augmentation, epochs); batch 64, Adam 1e-3 (the seed's).
RUNS = {
    "cifar": [("cifar10", "cifar10-jpeg", "baseline-cnn", "none", 20),
              ("cifar10", "cifar10-jpeg", "baseline-cnn", "hflip,rotation=10,zoom=0.1,shift=0.1", 20)],
    "fashion": [("fashion-mnist", "fashion-mnist-subset", "fashion-cnn", "none", 10),
                ("fashion-mnist", "fashion-mnist-subset", "densenet-seed", "none", 10)],
}


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"


def bench_quickstart(out: Path, extra: tuple[str, ...] = ()) -> dict:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cnnlab", "quickstart", "--runs-dir", str(out / "runs"), *extra],
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "runs/classify/quickstart/summary.json").read_text())
    return {"run": "quickstart (digits, baseline-cnn)", "wall_s": wall, "test_acc": summary["test_acc"],
            "s_per_epoch": summary["seconds_per_epoch"], "epochs": summary["epochs"]}


def bench_training(out: Path, shared: Path, data: str, folder: str, model: str, augment: str, epochs: int,
                   timing_epochs: int | None = None) -> dict:
    cfg = ClassifyConfig(data=DataConfig(data, str(shared / folder)), model=model, augment=parse_augment(augment),
                         fit=FitConfig(epochs=timing_epochs or epochs, batch_size=64), runs_dir=str(out / "runs"),
                         name=f"{model}-{data}-{'aug' if augment != 'none' else 'noaug'}")
    start = time.perf_counter()
    result = train_classifier(cfg, overwrite=True)
    s = result.summary
    return {"run": f"{model} on {data}, augment {augment}", "wall_s": time.perf_counter() - start,
            "test_acc": s["test_acc"], "best_val_acc": s["best_val_acc"], "s_per_epoch": s["seconds_per_epoch"],
            "epochs": s["epochs"], "params": s["params"], "overfitting": s["overfitting"]["text"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--only", default="quickstart,cifar,fashion")
    parser.add_argument("--timing-epochs", type=int, help="run each only this long (seconds per epoch, quiet machine)")
    add_smoke(parser)
    args = parser.parse_args()
    out, quick = OUT, ()
    if args.smoke:
        out, quick = smoke_out(), ("--epochs", "1")
        args.shared, args.timing_epochs = str(smoke_data(out)), 1
    out.mkdir(exist_ok=True)
    records = []
    for part in args.only.split(","):
        if part == "quickstart":
            records.append(bench_quickstart(out, quick))
        else:
            specs = [spec for spec in RUNS[part] if not (args.smoke and spec[2] == "densenet-seed")]
            records += [bench_training(out, Path(args.shared), *spec, args.timing_epochs) for spec in specs]
        tag = args.only.replace(",", "_") + (f"_timing{args.timing_epochs}" if args.timing_epochs else "")
        (out / f"classify_cpu_{tag}.json").write_text(
            json.dumps({"machine": machine(), "date": time.strftime("%Y-%m-%d"), "records": records}, indent=2))
    print(f"machine: {machine()}")
    print("| run | test acc | s/epoch | epochs | wall s |\n| --- | --- | --- | --- | --- |")
    for r in records:
        print(f"| {r['run']} | {r['test_acc']:.2%} | {r['s_per_epoch']:.2f} | {r['epochs']} | {r['wall_s']:.0f} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
