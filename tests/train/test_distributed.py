"""Data-parallel training with 2 gloo processes on CPU equals one process seeing the same global batches,
and `torchrun -m cnnlab classify train` runs end to end with rank 0 alone writing the run folder."""

import json
import os
import socket
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from cnnlab.classify.training import classification_step
from cnnlab.data.images import ImageData
from cnnlab.data.loader import BatchLoader
from cnnlab.models import create_model
from cnnlab.train import FitConfig, Task, fit

GLOBAL_BATCH = 32


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def digits_data() -> ImageData:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.from_numpy(bunch.images[:400, None] * 255 / 16).float()
    images = torch.nn.functional.interpolate(images, size=28, mode="bilinear").round().to(torch.uint8)
    return ImageData(images, torch.from_numpy(bunch.target[:400]), [str(d) for d in range(10)])


def train(loader, val_loader) -> dict:
    """LeNet-5 (no BatchNorm, so per-rank batches add up exactly), 2 epochs of SGD."""
    torch.manual_seed(0)
    model = create_model("lenet5", 1, 10, 28, mean=[0.3], std=[0.4])
    # fp32: under bf16 a batch of 16 per rank rounds otherwise than one of 32, and the exact comparison is the point
    cfg = FitConfig(epochs=2, batch_size=GLOBAL_BATCH, optimizer="sgd", lr=0.05, device="cpu", precision="fp32")
    state = fit(Task("classify", model, classification_step(), loader, val_loader), cfg, device=torch.device("cpu"))
    return {"weights": model.state_dict(), "history": state.history}


def rank_main(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        data = digits_data()
        result = train(BatchLoader(data, GLOBAL_BATCH, shuffle=True, seed=1, rank=rank, world=world),
                       BatchLoader(data, 100, rank=rank, world=world))
        torch.save(result, f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


class GlobalBatches:
    """One process's view of a data-parallel epoch: each step, the ranks' batches put together."""

    def __init__(self, loaders: list[BatchLoader]) -> None:
        self.loaders = loaders

    def set_epoch(self, epoch: int) -> None:
        for loader in self.loaders:
            loader.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.loaders[0])

    def __iter__(self):
        for parts in zip(*self.loaders, strict=True):
            yield torch.cat([x for x, _ in parts]), torch.cat([y for _, y in parts])


def test_two_gloo_ranks_equal_one_process_with_the_same_global_batch(tmp_path):
    mp.spawn(rank_main, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    data = digits_data()
    single = train(GlobalBatches([BatchLoader(data, GLOBAL_BATCH, shuffle=True, seed=1, rank=r, world=2)
                                  for r in (0, 1)]), BatchLoader(data, 100))
    for key, value in single["weights"].items():
        assert torch.equal(ranks[0]["weights"][key], ranks[1]["weights"][key]), key  # the ranks agree
        assert torch.allclose(ranks[0]["weights"][key], value, atol=1e-5), key
    for a, b in zip(ranks[0]["history"], single["history"], strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)  # reduced over both ranks
        assert a["val_acc"] == pytest.approx(b["val_acc"])  # validated on all 400 images between the two
    assert single["history"][-1]["val_acc"] > 0.5


def test_torchrun_trains_data_parallel_and_rank_zero_writes_the_run(tmp_path):
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port", str(free_port()),
               "-m", "cnnlab", "classify", "train", "--data", "digits", "--image-size", "28", "--model", "lenet5",
               "--epochs", "3", "--batch-size", "64", "--device", "cpu", "--runs-dir", str(tmp_path), "--name", "ddp"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "classify" / "ddp"
    log = (run / "log.txt").read_text()
    assert log.count("epoch   1") == 1 and "data-parallel over 2 ranks" in log  # one writer
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs"] == 3 and summary["test_acc"] > 0.7
