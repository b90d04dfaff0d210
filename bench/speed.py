"""Issue 7's speed benchmark: cnnlab's engine against the typical eager loop and PyTorch Lightning's Trainer,
side by side in one process on the same data and the same network.

    python -m bench.speed --shared ../shared/data [--models baseline-cnn,densenet-seed,resnet34,fast]
                          [--peers eager,lightning,keras,cnnlab] [--epochs 1] [--train-limit 0] [--device auto]

eager: the loop a typical PyTorch user writes (the seed's): a Dataset converting one image at a time,
    DataLoader with 2 workers, batch 32, Adam 1e-3, fp32, loss.item() every step.
lightning: the same module, DataLoader and optimizer through lightning.Trainer (skipped when not installed:
    pip install lightning).
cnnlab-fp32: cnnlab's engine with 0.4.0's CPU defaults (fp32, NCHW), to show what the new defaults give.
keras: the seed's own networks built in Keras and trained with model.fit (bench/keras_peer.py; baseline-cnn and
    densenet-seed; skipped when TensorFlow is not installed: pip install -e ".[keras]").
cnnlab: cnnlab's engine (`train_classifier`): data resident on the device as uint8, batched augmentation there,
    bf16 and channels_last on CUDA, no host sync in the step loop. On CUDA it trains at batch 512 (--cnnlab-batch);
    on CPU at the eager loop's batch 32, so the ratio is the engine's alone. `fast` is `--recipe fast` (airnet);
    its peers train airnet the typical way.

Each peer reports training images per second (training time only, evaluation apart), test accuracy and the
ratio to the eager loop. baseline-cnn, resnet34 and fast run on CIFAR-10 (32x32x3); densenet-seed on the
Fashion-MNIST files (28x28x1). Writes bench/out/speed.json and prints a markdown table.

--smoke (CI): every model but resnet34 and every peer for one epoch on 100 images of tiny built-in data
(bench/smoke.py), in a temporary folder; a peer that is not installed is skipped with its message, as in a real run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bench.classify_cpu import machine
from bench.smoke import add_smoke, smoke_data, smoke_out
from cnnlab.classify.config import ClassifyConfig, recipe_fit, recipe_values
from cnnlab.classify.training import train_classifier
from cnnlab.data.augment import parse_augment
from cnnlab.data.datasets import DataConfig, load_dataset
from cnnlab.data.images import channel_stats
from cnnlab.models import create_model
from cnnlab.models.factory import fit_to_data
from cnnlab.train import FitConfig, resolve_device

OUT = Path(__file__).parent / "out"
DATA = {"baseline-cnn": ("cifar10", "cifar10-jpeg"), "resnet34": ("cifar10", "cifar10-jpeg"),
        "fast": ("cifar10", "cifar10-jpeg"), "densenet-seed": ("fashion-mnist", "fashion-mnist-subset")}


class ImageDataset(torch.utils.data.Dataset):
    """What a typical user writes: one uint8 image at a time to a float tensor in [0, 1]."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images.numpy(), labels.numpy()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return torch.from_numpy(self.images[i].astype(np.float32) / 255.0), int(self.labels[i])


def network(model: str, data, device):
    name = "airnet" if model == "fast" else model
    mean, std = channel_stats(data.train.images)
    net = create_model(name, data.train.channels, len(data.classes), data.train.size[0], mean=mean, std=std)
    fit_to_data(net, data.train.images)
    return net.to(device)


def loaders(data, batch: int = 32):
    train = torch.utils.data.DataLoader(ImageDataset(data.train.images, data.train.labels), batch_size=batch,
                                        shuffle=True, num_workers=2, persistent_workers=True)
    test = torch.utils.data.DataLoader(ImageDataset(data.test.images, data.test.labels), batch_size=256,
                                       num_workers=2)
    return train, test


@torch.no_grad()
def test_accuracy(net, test, device) -> float:
    net.eval()
    right = total = 0
    for x, y in test:
        right += (net(x.to(device)).argmax(1).cpu() == y).sum().item()
        total += len(y)
    return right / total


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_eager(model: str, data, epochs: int, device) -> dict:
    torch.manual_seed(0)
    net = network(model, data, device)
    train, test = loaders(data)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    seconds, seen = 0.0, 0
    for _ in range(epochs):
        net.train()
        sync(device)
        start = time.perf_counter()
        for x, y in train:
            x, y = x.to(device), y.to(device)
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss.item()  # the running loss a typical loop prints
            seen += len(y)
        sync(device)
        seconds += time.perf_counter() - start
    return {"train_seconds": seconds, "images_per_second": seen / seconds, "test_acc": test_accuracy(net, test, device)}


def run_lightning(model: str, data, epochs: int, device) -> dict:
    try:
        import lightning as L
    except ImportError:
        return {"skipped": "lightning is not installed (pip install lightning)"}

    class Module(L.LightningModule):
        def __init__(self, net) -> None:
            super().__init__()
            self.net = net

        def training_step(self, batch, _):
            x, y = batch
            loss = F.cross_entropy(self.net(x), y)
            self.log("loss", loss, prog_bar=False)
            return loss

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), 1e-3)

    class Timer(L.Callback):
        seconds = 0.0

        def on_train_epoch_start(self, trainer, module) -> None:
            sync(device)
            self.start = time.perf_counter()

        def on_train_epoch_end(self, trainer, module) -> None:
            sync(device)
            self.seconds += time.perf_counter() - self.start

    torch.manual_seed(0)
    net = network(model, data, torch.device("cpu"))
    train, test = loaders(data)
    timer = Timer()
    trainer = L.Trainer(max_epochs=epochs, accelerator="gpu" if device.type == "cuda" else "cpu", devices=1,
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, callbacks=[timer])
    trainer.fit(Module(net), train)
    net.to(device)
    seen = len(train.dataset) * epochs
    return {"train_seconds": timer.seconds, "images_per_second": seen / timer.seconds,
            "test_acc": test_accuracy(net, test, device)}


def run_cnnlab(out: Path, model: str, data_cfg: DataConfig, train_images: int, epochs: int, device,
               batch: int, layout: dict | None = None) -> dict:
    if model == "fast":
        r = recipe_values("fast", {"epochs": epochs})
        fit = recipe_fit(r, device=str(device))
        cfg = ClassifyConfig(data=data_cfg, model="airnet", augment=parse_augment(r["augment"]), fit=fit,
                             runs_dir=str(out / "runs"), name="speed-fast")
    else:
        cfg = ClassifyConfig(data=data_cfg, model=model, fit=FitConfig(epochs=epochs, batch_size=batch,
                                                                       device=str(device), **(layout or {})),
                             runs_dir=str(out / "runs"), name=f"speed-{model}")
    s = train_classifier(cfg, overwrite=True).summary
    seen = s["epochs"] * (train_images // cfg.fit.batch_size * cfg.fit.batch_size or train_images)
    return {"train_seconds": s["train_seconds"], "images_per_second": seen / s["train_seconds"],
            "test_acc": s["test_acc"], "batch_size": cfg.fit.batch_size, "compile_seconds": s["compile_seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", default="../shared/data")
    parser.add_argument("--models", default="baseline-cnn,densenet-seed,resnet34,fast")
    parser.add_argument("--peers", default="eager,lightning,keras,cnnlab")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--train-limit", type=int, default=0, help="keep the first N training images (0: all)")
    parser.add_argument("--cnnlab-batch", type=int, default=0, help="cnnlab's batch (0: 512 on CUDA, 32 on CPU)")
    parser.add_argument("--device", default="auto")
    add_smoke(parser)
    args = parser.parse_args()
    out = OUT
    if args.smoke:
        out = smoke_out()
        args.shared, args.epochs, args.train_limit = str(smoke_data(out)), 1, 100
        args.models = "baseline-cnn,densenet-seed,fast"  # resnet34 takes baseline-cnn's path, at 10x the time
    device = resolve_device(args.device)
    batch = args.cnnlab_batch or (512 if device.type == "cuda" else 32)
    rows = []
    for model in args.models.split(","):
        name, folder = DATA[model]
        per_class = args.train_limit // 10 if args.train_limit else None
        data_cfg = DataConfig(name, str(Path(args.shared) / folder), val_fraction=0.02, train_per_class=per_class)
        data = load_dataset(data_cfg)
        for peer in args.peers.split(","):
            if peer == "eager":
                row = run_eager(model, data, args.epochs, device)
            elif peer == "lightning":
                row = run_lightning(model, data, args.epochs, device)
            elif peer == "keras":
                from bench.keras_peer import in_subprocess

                row = in_subprocess(model, {"name": name, "root": data_cfg.root, "val_fraction": 0.02,
                                            "train_per_class": per_class}, args.epochs)
            elif peer == "cnnlab-fp32":  # 0.4.0's CPU defaults: fp32, NCHW
                row = run_cnnlab(out, model, data_cfg, len(data.train), args.epochs, device, batch,
                                 {"precision": "fp32", "channels_last": "off"})
            else:
                row = run_cnnlab(out, model, data_cfg, len(data.train), args.epochs, device, batch)
            rows.append({"model": model, "peer": peer, "train_images": len(data.train), **row})
            print(json.dumps(rows[-1]), flush=True)
    base = {r["model"]: r["images_per_second"] for r in rows if r["peer"] == "eager" and "images_per_second" in r}
    out.mkdir(parents=True, exist_ok=True)
    result = {"machine": machine(), "device": str(device), "date": time.strftime("%Y-%m-%d"), "epochs": args.epochs,
              "rows": rows}
    (out / "speed.json").write_text(json.dumps(result, indent=2))
    print(f"\n{result['machine']}, device {device}, {result['date']}, {args.epochs} epoch(s)\n")
    print("| model | peer | training images | images/s | vs eager | test acc |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        if "skipped" in r:
            print(f"| {r['model']} | {r['peer']} | | skipped: {r['skipped']} | | |")
            continue
        ratio = r["images_per_second"] / base[r["model"]] if r["model"] in base else float("nan")
        print(f"| {r['model']} | {r['peer']} | {r['train_images']:,} | {r['images_per_second']:,.0f} | "
              f"{ratio:.2f}x | {r['test_acc']:.2%} |")


if __name__ == "__main__":
    main()
