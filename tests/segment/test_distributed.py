"""Segmentation trains data-parallel: 2 gloo processes on CPU give the weights of one process that sees the
same global batches, and `torchrun -m cnnlab segment train` runs with rank 0 alone writing the run."""

import json
import os
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from cnnlab.segment.model import create_unet
from cnnlab.segment.training import finalize_metrics, load_mask_data, mask_loader, segmentation_step
from cnnlab.train import FitConfig, PhaseConfig, Task, fit
from tests.train.test_distributed import GlobalBatches, free_port

GLOBAL_BATCH = 8


def data():
    return load_mask_data("digits", 32).subset(range(48))


def train(loader, val_loader) -> dict:
    """Two epochs of the decoder on a frozen random encoder, every BatchNorm in inference mode: per-rank
    batch statistics would differ from the global batch's (SyncBatchNorm needs CUDA)."""
    torch.manual_seed(0)
    model = create_unet("efficientnet_lite0", 2, in_channels=1, image_size=32, pretrained=False)
    phase = PhaseConfig("frozen", 2, "sgd", 0.05, train="head", freeze_norm_stats=True)
    # fp32: under bf16 a batch of 16 per rank rounds otherwise than one of 32, and the exact comparison is the point
    cfg = FitConfig(batch_size=GLOBAL_BATCH, device="cpu", phases=(phase,), precision="fp32")
    task = Task("segment", model, segmentation_step(2), loader, val_loader, finalize=finalize_metrics(2))
    state = fit(task, cfg, device=torch.device("cpu"))
    return {"weights": model.state_dict(), "history": state.history}


def rank_main(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        d = data()
        result = train(mask_loader(d, GLOBAL_BATCH, shuffle=True, seed=1, rank=rank, world=world),
                       mask_loader(d, 16, rank=rank, world=world))
        torch.save(result, f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_train_the_unet_to_the_weights_of_one_process(tmp_path):
    mp.spawn(rank_main, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    d = data()
    single = train(GlobalBatches([mask_loader(d, GLOBAL_BATCH, shuffle=True, seed=1, rank=r, world=2)
                                  for r in (0, 1)]), mask_loader(d, 16))
    for key, value in single["weights"].items():
        assert torch.equal(ranks[0]["weights"][key], ranks[1]["weights"][key]), key  # the ranks agree
        assert torch.allclose(ranks[0]["weights"][key], value, atol=1e-5), key
    for a, b in zip(ranks[0]["history"], single["history"], strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)  # reduced over both ranks
        assert a["val_miou"] == pytest.approx(b["val_miou"], rel=1e-5)  # validated on all images between the two
    first = create_unet("efficientnet_lite0", 2, in_channels=1, image_size=32, pretrained=False).state_dict()
    moved = sum(not torch.equal(first[k], v) for k, v in single["weights"].items() if k.startswith("decoder."))
    assert moved > 0 and single["history"][-1]["train_loss"] < single["history"][0]["train_loss"]


@pytest.mark.slow
def test_torchrun_segment_train_writes_one_run(tmp_path):
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port", str(free_port()),
               "-m", "cnnlab", "segment", "train", "--image-size", "32", "--no-pretrained", "--epochs", "1",
               "--batch-size", "8", "--device", "cpu", "--runs-dir", str(tmp_path), "--name", "ddp"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "segment" / "ddp"
    log = (run / "log.txt").read_text()
    assert log.count("epoch   1") == 1 and "data-parallel over 2 ranks" in log  # one writer
    assert json.loads((run / "summary.json").read_text())["epochs"] == 1
