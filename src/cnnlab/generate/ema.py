"""The exponential moving average of the generator's weights (Karras et al. 2018; Yazici et al. 2019): samples
from the average are smoother and closer to the data than the raw generator's, which swings with each round."""

from __future__ import annotations

import copy

import torch
from torch import nn

RAMP = 10  # the decay starts low and reaches `decay` as steps grow: min(decay, (1 + t) / (RAMP + t))


class Ema:
    """An averaged copy of `net`, updated after each of its optimizer's steps; buffers (BatchNorm's running
    statistics) are copied, not averaged. The copy is always in inference mode."""

    def __init__(self, net: nn.Module, decay: float) -> None:
        self.decay, self.steps = decay, 0
        self.net = copy.deepcopy(net).eval()
        for p in self.net.parameters():
            p.requires_grad_(False)

    def decay_at(self, step: int) -> float:
        return min(self.decay, (1 + step) / (RAMP + step))

    @torch.no_grad()
    def update(self, net: nn.Module) -> None:
        weight = 1 - self.decay_at(self.steps)
        for avg, cur in zip(self.net.parameters(), net.parameters(), strict=True):
            avg.lerp_(cur.detach(), weight)
        for avg, cur in zip(self.net.buffers(), net.buffers(), strict=True):
            avg.copy_(cur)
        self.steps += 1

    def state_dict(self) -> dict:
        return {"weights": self.net.state_dict(), "steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["weights"])
        self.steps = int(state["steps"])
