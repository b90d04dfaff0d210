"""Issue 17's parity goals on real runs: train each task briefly on real data (through the Python API,
`cnnlab.<task>.train`), export it to ONNX and safetensors as `cnnlab export` does, and collect the parity
figures each export measured on the run's own test images (up to 1,000).

    python -m bench.export_parity --shared ../shared/data [--only classify,resnet,segment,localize,similarity]

Goals: classifier top-1 agreement 100% on 1,000 test images and max logit difference < 1e-3; U-Net mask
agreement >= 99.9% of pixels; box IoU between runtimes >= 0.999. Prints a markdown table and writes
bench/out/export_parity.json. Training is short on purpose: parity does not need a good model, only a trained one.

--smoke (CI): every run but resnet on tiny built-in data (bench/smoke.py), one epoch at small image sizes, in a
temporary folder.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from importlib import import_module
from pathlib import Path

import cnnlab
from bench.smoke import add_smoke, smoke_data, smoke_out
from cnnlab.errors import CnnlabError

OUT = Path(__file__).parent / "out"
SMOKE = {"classify": {"epochs": 1},  # resnet34 is the classify row's path with a larger net: not smoked
         "segment": {"image_size": 32, "batch_size": 8}, "localize": {"image_size": 64, "freeze_epochs": 1},
         "localize-single": {"image_size": 64, "freeze_epochs": 1}, "similarity": {"epochs": 1}}


def runs(shared: Path) -> dict[str, tuple[str, dict]]:
    """name -> (task, train keywords)."""
    fashion = {"data": "fashion-mnist", "data_dir": str(shared / "fashion-mnist-subset")}
    return {
        "classify": ("classify", {**fashion, "model": "baseline-cnn", "epochs": 2}),
        "resnet": ("classify", {"data": "cifar10", "data_dir": str(shared / "cifar10-jpeg"), "model": "resnet34",
                                "train_per_class": 100, "epochs": 1}),
        "segment": ("segment", {"data": f"oxford-pet:{shared / 'oxford-pet-3breeds'}", "image_size": 128,
                                "epochs": 1, "batch_size": 16}),
        "localize": ("localize", {"data": f"oxford-pet:{shared / 'oxford-pet-3breeds'}", "head": "detect",
                                  "image_size": 224, "freeze_epochs": 2, "finetune_epochs": 0}),
        "localize-single": ("localize", {"data": f"oxford-pet:{shared / 'oxford-pet-3breeds'}", "head": "single",
                                         "image_size": 224, "freeze_epochs": 2, "finetune_epochs": 0}),
        "similarity": ("similarity", {**fashion, "model": "baseline-cnn", "method": "metric", "epochs": 2}),
    }


def smoke_runs(shared: Path) -> dict[str, tuple[str, dict]]:
    """runs() shrunk for --smoke: one epoch, small images."""
    return {name: (task, {**options, **SMOKE[name]}) for name, (task, options) in runs(shared).items()
            if name in SMOKE}


def figures_of(parity: dict) -> str:
    """The figures of a parity record in one cell, whatever the task."""
    keep = {k: v for k, v in parity.items() if k not in ("format", "runtime", "split", "passed", "images")}
    return ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in keep.items())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", default="../shared/data")
    ap.add_argument("--only", default=None, help="comma-separated names of the runs to do")
    ap.add_argument("--runs-dir", default=None, help="keep the runs here (default: a temporary folder)")
    add_smoke(ap)
    args = ap.parse_args()
    out = OUT
    if args.smoke:
        out = smoke_out()
        args.shared, args.runs_dir = str(smoke_data(out)), str(out / "runs")
    shared = Path(args.shared)
    chosen = smoke_runs(shared) if args.smoke else runs(shared)
    if args.only:
        chosen = {k: v for k, v in chosen.items() if k in args.only.split(",")}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.runs_dir or tmp)
        for name, (task, options) in chosen.items():
            start = time.perf_counter()
            run = getattr(cnnlab, task).train(**options, name=name, runs_dir=root, overwrite=True)
            trained = time.perf_counter() - start
            export = import_module(f"cnnlab.{task}.export")
            for fmt in ("onnx", "safetensors"):
                try:
                    done = export.export_run(run.path, fmt)
                except CnnlabError as exc:  # a failed parity check: its figures are still in the sidecar
                    done = {"passed": False, "error": str(exc)}
                figures = {k: v for k, v in done.items() if k not in ("path", "said")}
                rows.append({"run": name, "task": task, "format": fmt, "train_s": round(trained, 1),
                             "figures": figures})
                print(json.dumps(rows[-1]), flush=True)
    out.mkdir(exist_ok=True)
    (out / "export_parity.json").write_text(json.dumps(rows, indent=2))
    print("\n| run | task | format | test images | figures | passed |\n| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        f = r["figures"]
        print(f"| {r['run']} | {r['task']} | {r['format']} | {f.get('images', '')} | {figures_of(f)} | "
              f"{'yes' if f.get('passed') else 'NO'} |")


if __name__ == "__main__":
    main()
