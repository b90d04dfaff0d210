"""An exponential moving average of a model's weights."""

from __future__ import annotations

import copy

import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.options import said


class WeightAverage:
    """An exponential moving average of a model's weights and floating-point buffers, updated after every
    optimizer step with one fused lerp (no host sync, unlike torch's AveragedModel, which checks a counter on
    the host every step). `module` is the averaged copy that validation and the best checkpoint use."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0 < decay < 1:
            raise CnnlabError(f"{said('ema')} is a decay between 0 and 1 (e.g. 0.99), got {decay}")
        self.model, self.decay = model, decay
        self.module = copy.deepcopy(model).requires_grad_(False)
        mine = [*self.module.parameters(), *self.module.buffers()]
        theirs = [t.detach() for t in (*model.parameters(), *model.buffers())]  # same tensors, updated in place
        self.floats = [(m, t) for m, t in zip(mine, theirs, strict=True) if m.is_floating_point()]
        self.counters = [(m, t) for m, t in zip(mine, theirs, strict=True) if not m.is_floating_point()]

    @torch.no_grad()
    def update(self) -> None:
        torch._foreach_lerp_([m for m, _ in self.floats], [t for _, t in self.floats], 1 - self.decay)
        for mine, theirs in self.counters:
            mine.copy_(theirs)

    def state_dict(self) -> dict:
        return self.module.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state)
