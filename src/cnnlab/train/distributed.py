"""Data-parallel training across processes started by torchrun (or any launcher that sets the env:// variables).

    torchrun --nproc_per_node=N -m cnnlab classify train ...

Each rank holds its shard of the data on its own device and runs the same steps; DistributedDataParallel
averages the gradients, metrics are summed across ranks, and only rank 0 writes the run folder. Without
WORLD_SIZE > 1 in the environment everything here is a no-op and training is the single-process kind.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import torch
import torch.distributed as dist

from cnnlab.errors import CnnlabError


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owned: bool = False  # setup() made the process group, so teardown(ranks) ends it (else it is the caller's)

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def current() -> Ranks:
    """This process's place in the process group (rank 0 of 1 when none is running)."""
    if not (dist.is_available() and dist.is_initialized()):
        return Ranks()
    return Ranks(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", dist.get_rank())))


def setup(device: str = "auto") -> Ranks:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1): NCCL when the ranks train on
    CUDA devices (one per LOCAL_RANK), gloo on CPU. Returns this process's ranks."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or (dist.is_available() and dist.is_initialized()):
        return current()
    if not dist.is_available():
        raise CnnlabError("this PyTorch build has no torch.distributed; run without torchrun")
    cuda = device != "cpu" and torch.cuda.is_available()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        if local >= torch.cuda.device_count():
            raise CnnlabError(f"rank with LOCAL_RANK {local} has no GPU: only {torch.cuda.device_count()} here; "
                              "lower --nproc_per_node")
        torch.cuda.set_device(local)
    dist.init_process_group("nccl" if cuda else "gloo")
    return replace(current(), owned=True)


def teardown(ranks: Ranks) -> None:
    """Leave the process group that setup() made when it returned `ranks` (a no-op for one it found, or none)."""
    if ranks.owned and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def device_for(ranks: Ranks, device: torch.device) -> torch.device:
    """Each rank trains on its own GPU (cuda:LOCAL_RANK); CPU ranks share the CPU."""
    if ranks.enabled and device.type == "cuda":
        return torch.device("cuda", ranks.local_rank)
    return device


def all_sum(tensor: torch.Tensor) -> torch.Tensor:
    """The sum over ranks (in place), or the tensor itself when single-process."""
    if current().enabled:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_max(value: float, device: torch.device) -> float:
    """The largest of one number across ranks: decisions such as 'the time budget is spent' must agree."""
    if not current().enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())


def barrier() -> None:
    if current().enabled:
        dist.barrier()


def wrap(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """The model as DistributedDataParallel when several ranks train, else itself. Built per phase, since
    freezing changes which parameters need their gradients averaged."""
    if not current().enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
