"""Issue 17's inference benchmark: images per second on the CPU at batch 1 and batch 64, eager PyTorch vs
torch.compile vs ONNX Runtime (the model exported as `cnnlab export` does), in one process, with the largest
logit difference between ONNX Runtime and eager.

    python -m bench.export_cpu [--models baseline-cnn:32,resnet34:224,timm:efficientnet_lite0:224,
                                         unet:efficientnet_lite0:128] [--seconds 3]

A model is a zoo classifier NAME:SIZE, or unet:ENCODER:SIZE for the segment room's U-Net (2 classes, exported
as `cnnlab export` exports a segment run; its "logits" are per pixel). Random weights (speed and parity do not
depend on training). Prints a markdown table and writes bench/out/export_cpu.json.

--smoke (CI): baseline-cnn at 32 px and a U-Net at 32 px, batches 1 and 4, 0.05 s a rate, torch.compile with its
"eager" backend (Inductor's C++ build alone takes longer than a smoke run may), written to a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench.smoke import add_smoke, smoke_out
from cnnlab.models.export import OnnxModel, describe, to_onnx
from cnnlab.models.factory import create_model

OUT = Path(__file__).parent / "out"


def rate(fn, x: torch.Tensor, seconds: float) -> float:
    """Images per second of fn(x), after two warm-up calls, over at least `seconds`."""
    with torch.no_grad():
        fn(x)
        fn(x)
        calls, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds or calls < 3:
            fn(x)
            calls += 1
    return calls * len(x) / (time.perf_counter() - start)


def build(name: str, size: int) -> tuple[torch.nn.Module, dict]:
    """A model with random weights and what `cnnlab export` writes into its metadata."""
    torch.manual_seed(0)
    if name.startswith("unet:"):
        from cnnlab.segment.export import describe as describe_unet
        from cnnlab.segment.model import create_unet

        model = create_unet(name.partition(":")[2], 2, image_size=size, pretrained=False).eval()
        return model, describe_unet(model, ["background", "object"], "bench")
    model = create_model(name, 3, 10, size).eval()
    return model, describe(model, [str(i) for i in range(10)], "bench")


def measure(name: str, size: int, seconds: float, folder: Path, batches: tuple[int, ...] = (1, 64),
            backend: str = "inductor") -> list[dict]:
    model, info = build(name, size)
    path = folder / f"{name.replace(':', '_')}.onnx"
    to_onnx(model, path, info, dynamic_batch=True)
    ort = OnnxModel.load(path)
    compiled = torch.compile(model, backend=backend)
    rows = []
    for batch in batches:
        x = torch.rand(batch, 3, size, size)
        with torch.no_grad():
            diff = float((ort(x) - model(x)).abs().max())
        eager = rate(model, x, seconds)
        row = {"model": name, "size": size, "batch": batch, "eager": eager, "compile": rate(compiled, x, seconds),
               "onnxruntime": rate(ort, x, seconds), "max_logit_diff": diff}
        row["ort_vs_eager"] = row["onnxruntime"] / eager
        row["compile_vs_eager"] = row["compile"] / eager
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="baseline-cnn:32,resnet34:224,timm:efficientnet_lite0:224,"
                                            "unet:efficientnet_lite0:128")
    parser.add_argument("--seconds", type=float, default=3.0)
    add_smoke(parser)
    args = parser.parse_args()
    out, batches, backend = OUT, (1, 64), "inductor"
    if args.smoke:
        out, batches, backend = smoke_out(), (1, 4), "eager"
        args.models, args.seconds = "baseline-cnn:32,unet:efficientnet_lite0:32", 0.05
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for item in args.models.split(","):
            name, _, size = item.rpartition(":")
            rows += measure(name, int(size), args.seconds, Path(tmp), batches, backend)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| model | px | batch | eager img/s | compile img/s | ONNX Runtime img/s | ORT / eager | max logit diff |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['model']} | {r['size']} | {r['batch']} | {r['eager']:.1f} | {r['compile']:.1f} | "
              f"{r['onnxruntime']:.1f} | {r['ort_vs_eager']:.2f}x | {r['max_logit_diff']:.1e} |")
    out.mkdir(exist_ok=True)
    (out / "export_cpu.json").write_text(json.dumps({"torch": torch.__version__, "rows": rows,
                                                     "numpy": np.__version__}, indent=2))


if __name__ == "__main__":
    main()
