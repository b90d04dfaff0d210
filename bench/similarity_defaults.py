"""What `cnnlab similarity train` gives with no tuning flags (issue 16), on the data in ../shared:

    python -m bench.similarity_defaults [--shared ../shared/data] [--only fashion-metric,fashion-siamese,flowers]
                                        [--flowers-epochs 5]

- fashion-metric / fashion-siamese: `similarity train --data fashion-mnist --method metric|siamese` (the
  defaults: --model auto = airnet, AdamW one-cycle, 20 epochs, hflip), test images searched among the
  training images; the table's rows are raw pixels, the untrained net and the trained one.
- flowers: `similarity train --data flowers17 --method metric --epochs N` (--model auto = pretrained
  EfficientNet-Lite0 fine-tuned), beside the pretrained features with no training; and the same with
  --holdout-classes 5 (the last 5 flowers never trained on, judged apart).

Each run's summary.json gives the figures; the training seconds are the run's own. Writes
bench/out/similarity_defaults.json and prints a markdown table.

--smoke (CI): every run but fashion-siamese for one epoch on tiny built-in data (bench/smoke.py), in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.smoke import add_smoke, smoke_data, smoke_out

OUT = Path(__file__).parent / "out"


def train(runs: Path, name: str, *args: str) -> dict:
    subprocess.run([sys.executable, "-m", "cnnlab", "similarity", "train", *args, "--runs-dir", str(runs),
                    "--name", name], check=True)
    return json.loads((runs / "similarity" / name / "summary.json").read_text())


def rows(label: str, summary: dict, part: str = "retrieval") -> list[dict]:
    table = summary[part] if part == "retrieval" else summary["holdout"]["retrieval"]
    return [{"run": label, "classes": "seen" if part == "retrieval" else "held out", "embedding": r["embedding"],
             "recall@1": r["recall@1"], "recall@10": r["recall@10"], "map@r": r["map@r"],
             "train_s": round(summary["train_seconds"]), "epochs": summary["epochs"],
             "best_epoch": summary["best_epoch"]} for r in table]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--only", default="fashion-metric,fashion-siamese,flowers")
    parser.add_argument("--flowers-epochs", type=int, default=5)
    add_smoke(parser)
    args = parser.parse_args()
    out, short, holdout = OUT, [], "5"
    if args.smoke:
        out, short, holdout = smoke_out(), ["--epochs", "1", "--image-size", "32"], "2"
        args.shared, args.flowers_epochs = smoke_data(out), 1
        args.only = "fashion-metric,flowers"  # the siamese run takes the metric run's path (bench.similarity_cpu)
    only = set(args.only.split(","))
    fashion = ["--data", "fashion-mnist", "--data-dir", str(args.shared / "fashion-mnist-subset"), *short]
    flowers = ["--data", "flowers17", "--data-dir", str(args.shared / "flowers17"), "--method", "metric",
               "--epochs", str(args.flowers_epochs), *short[2:]]
    table: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp)
        if "fashion-metric" in only:
            table += rows("fashion metric", train(runs, "fm-metric", *fashion, "--method", "metric"))
        if "fashion-siamese" in only:
            table += rows("fashion siamese", train(runs, "fm-siamese", *fashion))
        if "flowers" in only:
            table += rows("flowers metric", train(runs, "fl-metric", *flowers))
            held = train(runs, "fl-holdout", *flowers, "--holdout-classes", holdout)
            table += rows("flowers metric, 5 held out", held) + rows("flowers metric, 5 held out", held, "holdout")
    out.mkdir(exist_ok=True)
    (out / "similarity_defaults.json").write_text(json.dumps({"machine": platform.processor() or platform.machine(),
                                                               "rows": table}, indent=2))
    keys = list(table[0]) if table else []
    print("| " + " | ".join(keys) + " |\n|" + " --- |" * len(keys))
    for r in table:
        print("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in r.values()) + " |")


if __name__ == "__main__":
    main()
