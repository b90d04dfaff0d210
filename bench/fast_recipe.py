"""Issue 7's accuracy-per-second goals: a recipe (default: `--recipe fast`) on all 50,000 CIFAR-10 training
images, several seeds, test accuracy after every epoch (so the time to 90% is read off), training time apart
from the one-off compilation, and wall time from start to the last test accuracy.

    python -m bench.fast_recipe --shared ../shared/data [--runs 5] [--compile] [--epochs N]
    python -m bench.fast_recipe --recipe default --model baseline-cnn --batch-size 1024 --epochs 10 --augment none
    python -m bench.fast_recipe --recipe default --model baseline-cnn --batch-size 512 --epochs 20 --augment hflip

The test split is the validation set of these runs: the recipe's settings are fixed in advance, nothing is
selected on it, and what is printed is exactly the accuracy after each epoch. Writes bench/out/fast_recipe.json.

--smoke (CI): one run of one epoch on 20 images a class of tiny built-in data (bench/smoke.py), in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path

import torch

from bench.classify_cpu import machine
from bench.smoke import add_smoke, smoke_data, smoke_out
from cnnlab.classify.config import ClassifyConfig, recipe_fit, recipe_values
from cnnlab.classify.training import classification_step, prepare
from cnnlab.data.augment import parse_augment
from cnnlab.data.datasets import DataConfig, load_dataset
from cnnlab.data.images import DataSplits, ImageData
from cnnlab.data.loader import BatchLoader
from cnnlab.models import model_entry
from cnnlab.train import Task, fit, resolve_device

OUT = Path(__file__).parent / "out"


def one_run(cfg: ClassifyConfig, data: DataSplits, device: torch.device) -> dict:
    begin = time.perf_counter()
    torch.manual_seed(cfg.fit.seed)
    model = prepare(cfg, data).to(device)
    train = BatchLoader(data.train, cfg.fit.batch_size, shuffle=True, augment=cfg.augment, seed=cfg.fit.seed,
                        device=device, drop_last=cfg.fit.compile and device.type == "cuda")
    test = BatchLoader(data.test, 2000, device=device)
    task = Task("classify", model, classification_step(cfg.fit.label_smoothing, cfg.fit.tta), train, test,
                default_weight_decay=model_entry(cfg.model).defaults.get("weight_decay", 0.0))
    state = fit(task, cfg.fit, device=device)
    wall = time.perf_counter() - begin
    seconds, to_90 = 0.0, None
    for record in state.history:
        seconds += record["seconds"]
        if to_90 is None and record["val_acc"] >= 0.90:
            to_90 = seconds
    return {"seed": cfg.fit.seed, "test_acc": state.history[-1]["val_acc"], "train_seconds": seconds,
            "compile_seconds": state.compile_seconds, "wall_seconds": wall, "seconds_to_90": to_90,
            "acc_by_epoch": [round(r["val_acc"], 4) for r in state.history]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", default="../shared/data")
    parser.add_argument("--recipe", default="fast")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--train-limit", type=int, default=0, help="N training images per class (0: all)")
    for name in ("model", "augment", "optimizer", "schedule"):
        parser.add_argument(f"--{name}")
    for name in ("epochs", "batch-size"):
        parser.add_argument(f"--{name}", type=int)
    for name in ("lr", "weight-decay", "label-smoothing", "ema", "warmup-epochs"):
        parser.add_argument(f"--{name}", type=float)
    add_smoke(parser)
    args = parser.parse_args()
    out = OUT
    if args.smoke:
        out = smoke_out()
        args.shared, args.runs, args.epochs, args.train_limit = str(smoke_data(out)), 1, 1, 20
    r = recipe_values(args.recipe, {k: getattr(args, k) for k in ("model", "augment", "optimizer", "schedule",
                                                                     "epochs", "batch_size", "lr", "weight_decay",
                                                                     "label_smoothing", "ema", "warmup_epochs")})
    device = resolve_device(args.device)
    data_cfg = DataConfig("cifar10", str(Path(args.shared) / "cifar10-jpeg"), val_fraction=0.02,
                          train_per_class=args.train_limit or None)
    start = time.perf_counter()
    data = load_dataset(data_cfg)
    whole = ImageData(torch.cat([data.train.images, data.val.images]), torch.cat([data.train.labels, data.val.labels]),
                      data.classes)  # all of the training split: the test split is what each epoch reports
    data = replace(data, train=whole)
    load_seconds = time.perf_counter() - start
    fit_cfg = recipe_fit(r, device=str(device), compile=args.compile)
    base = ClassifyConfig(data=data_cfg, model=r["model"], augment=parse_augment(r["augment"]), fit=fit_cfg)
    runs = []
    for seed in range(args.runs):
        runs.append(one_run(replace(base, fit=replace(fit_cfg, seed=seed)), data, device))
        print(json.dumps(runs[-1]), flush=True)
    accs = [x["test_acc"] for x in runs]
    result = {"machine": machine(), "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "date": time.strftime("%Y-%m-%d"), "recipe": args.recipe, "settings": r, "compile": args.compile,
              "load_seconds": load_seconds, "runs": runs, "mean_acc": statistics.mean(accs),
              "mean_train_seconds": statistics.mean(x["train_seconds"] for x in runs)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "fast_recipe.json").write_text(json.dumps(result, indent=2))
    print(f"\n{result['machine']}, {result['device']}, {result['date']}: {args.recipe} {r}")
    print(f"test accuracy {result['mean_acc']:.2%} (mean of {len(runs)}; {min(accs):.2%}..{max(accs):.2%}), "
          f"training {result['mean_train_seconds']:.2f} s, compile {runs[0]['compile_seconds']:.1f} s (first run), "
          f"wall {runs[0]['wall_seconds']:.1f} s (first run, data already loaded: {load_seconds:.1f} s), "
          f"time to 90%: {[x['seconds_to_90'] for x in runs]}")


if __name__ == "__main__":
    main()
