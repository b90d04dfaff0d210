"""Issue 29: where training time goes on a CPU, how far each workload is from the machine's reachable rate, and
which of PyTorch's CPU options win: memory layout (NCHW, NHWC / channels_last), precision (fp32, bf16 autocast
where the processor has it), batch size, torch.compile (its one-off cost apart).

    python -m bench.cpu_speed [--workloads baseline-cnn,densenet-seed,unet,dcgan] [--seconds 8] [--compile]

Reachable rate: a 2048x2048 fp32 matmul and a 3x3 convolution of 64 channels at 56x56 (batch 32, NCHW and NHWC),
GFLOP/s. Each workload's training step (forward, backward, optimizer: one Adam step; the DCGAN's discriminator and
generator rounds as cnnlab trains them) is timed on random inputs of its real shape, after warm-up, for
--seconds; its FLOPs per step are counted by torch.utils.flop_counter, so the achieved GFLOP/s sits beside the
reachable. baseline-cnn at 32x32x3 and densenet-seed at 28x28x1 (the issue's Keras comparison), the U-Net at
128 px on EfficientNet-Lite0 (its default frozen-encoder phase, batch 16), the DCGAN at 64 px (width 1, batch 32).

Writes bench/out/cpu_speed.json and prints markdown tables. --smoke (CI): one variant per workload for a
fraction of a second, nothing recorded.
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from bench.classify_cpu import machine
from bench.smoke import add_smoke

OUT = Path(__file__).parent / "out"
VARIANTS = {  # name: (channels_last, bf16, batch multiplier, fused Adam)
    "fp32 NCHW": (False, False, 1, False), "fp32 NCHW fused Adam": (False, False, 1, True),
    "fp32 NHWC": (True, False, 1, False), "fp32 NHWC fused Adam": (True, False, 1, True),
    "bf16 NHWC fused Adam": (True, True, 1, True), "fp32 NHWC fused Adam batch x4": (True, False, 4, True),
}


def reachable(seconds: float) -> dict[str, float]:
    """GFLOP/s of a large fp32 matmul and of a 3x3 convolution, NCHW and NHWC."""
    out = {}
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    out["matmul fp32"] = rate(lambda: a @ b, 2 * 2048**3, seconds)
    x, w = torch.randn(32, 64, 56, 56), torch.randn(64, 64, 3, 3)
    flops = 2 * 32 * 64 * 56 * 56 * 64 * 9
    out["conv3x3 fp32 NCHW"] = rate(lambda: F.conv2d(x, w, padding=1), flops, seconds)
    xl, wl = x.contiguous(memory_format=torch.channels_last), w.contiguous(memory_format=torch.channels_last)
    out["conv3x3 fp32 NHWC"] = rate(lambda: F.conv2d(xl, wl, padding=1), flops, seconds)
    return out


def rate(fn, flops: float, seconds: float) -> float:
    fn()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        n += 1
    return flops * n / (time.perf_counter() - start) / 1e9


class Workload:
    """A training step of one network at its real input shape: step() runs it, batch is its batch size."""

    def __init__(self, name: str, channels_last: bool, bf16: bool, batch_scale: int, fused: bool, compile_: bool,
                 width: float = 1.0) -> None:
        self.name, self.bf16 = name, bf16
        torch.manual_seed(0)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        if name == "dcgan":
            from cnnlab.generate.config import GanConfig
            from cnnlab.generate.trainer import GanTrainer

            cfg = GanConfig(data="digits", channels=3, precision="bf16" if bf16 else "fp32",
                            batch_size=32 * batch_scale, width=width)
            self.trainer = GanTrainer(cfg, torch.device("cpu"))
            self.trainer.G.to(memory_format=fmt)
            self.trainer.D.to(memory_format=fmt)
            self.batch = cfg.batch_size
            self.x = torch.rand(self.batch, 3, 64, 64).contiguous(memory_format=fmt)
            self.g = torch.Generator().manual_seed(0)
            return
        if name == "unet":
            from cnnlab.segment.model import create_unet

            self.net = create_unet("efficientnet_lite0", 3, in_channels=3, image_size=128, pretrained=False)
            self.net.set_trainable("head")
            self.batch, shape, classes = 16 * batch_scale, (3, 128, 128), 3
            self.y = torch.randint(0, classes, (self.batch, 128, 128))
        else:
            from cnnlab.models import create_model

            shape = (3, 32, 32) if name == "baseline-cnn" else (1, 28, 28)
            self.net = create_model(name, shape[0], 10, shape[1])
            self.batch = 32 * batch_scale
            self.y = torch.randint(0, 10, (self.batch,))
        self.net.to(memory_format=fmt).train()
        self.x = torch.rand(self.batch, *shape).contiguous(memory_format=fmt)
        self.opt = torch.optim.Adam([p for p in self.net.parameters() if p.requires_grad], 1e-3, fused=fused)
        self.forward = torch.compile(self.net) if compile_ else self.net

    def step(self) -> None:
        if self.name == "dcgan":
            self.trainer.train_step(self.x, self.g)
            return
        with torch.autocast("cpu", torch.bfloat16) if self.bf16 else nullcontext():
            loss = F.cross_entropy(self.forward(self.x).float(), self.y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()

    def flops(self) -> int:
        with FlopCounterMode(display=False) as counter:
            self.step()
        return counter.get_total_flops()


def measure(name: str, variant: str, seconds: float, compile_: bool = False, smoke: bool = False) -> dict:
    channels_last, bf16, scale, fused = VARIANTS[variant]
    w = Workload(name, channels_last, bf16, scale, fused, compile_, width=0.125 if smoke else 1.0)
    start = time.perf_counter()
    w.step()  # warm-up: first-touch allocations, oneDNN's primitive cache, compilation
    first = time.perf_counter() - start
    w.step()
    flops = w.flops()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or n < (1 if smoke else 3):
        w.step()
        n += 1
    elapsed = time.perf_counter() - start
    return {"workload": name, "variant": variant + (", compiled" if compile_ else ""), "batch": w.batch,
            "images_per_second": n * w.batch / elapsed, "step_ms": 1000 * elapsed / n,
            "gflop_per_step": flops / 1e9, "gflops": flops * n / elapsed / 1e9, "first_step_s": first}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", default="baseline-cnn,densenet-seed,unet,dcgan")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--seconds", type=float, default=8.0, help="timing per row, after warm-up")
    parser.add_argument("--compile", action="store_true", help="also each classifier and the U-Net compiled")
    add_smoke(parser)
    args = parser.parse_args()
    variants = args.variants.split(",") if not args.smoke else ["fp32 NHWC fused Adam"]
    seconds = 0.05 if args.smoke else args.seconds
    limits = reachable(0.05 if args.smoke else 3.0)
    print(json.dumps(limits), flush=True)
    rows = []
    for name in args.workloads.split(","):
        for variant in variants:
            rows.append(measure(name, variant, seconds, smoke=args.smoke))
            print(json.dumps(rows[-1]), flush=True)
        if args.compile and name != "dcgan" and not args.smoke:
            rows.append(measure(name, "fp32 NHWC fused Adam", seconds, compile_=True))
            print(json.dumps(rows[-1]), flush=True)
    if args.smoke:
        return
    best = max(limits.values())
    result = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "reachable_gflops": limits, "rows": rows}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "cpu_speed.json").write_text(json.dumps(result, indent=2))
    print(f"\n{result['machine']}, {result['date']}\n")
    print("| reachable | GFLOP/s |\n| --- | --- |")
    for k, v in limits.items():
        print(f"| {k} | {v:.0f} |")
    print("\n| workload | variant | batch | images/s | ms/step | GFLOP/step | GFLOP/s | of reachable |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['workload']} | {r['variant']} | {r['batch']} | {r['images_per_second']:,.0f} | "
              f"{r['step_ms']:.1f} | {r['gflop_per_step']:.2f} | {r['gflops']:.0f} | {r['gflops'] / best:.0%} |")


if __name__ == "__main__":
    main()
