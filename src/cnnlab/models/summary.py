"""A Keras-like model summary with the lecture's resource accounting: parameters, multiply-adds and the
memory of the feature maps, per image and per batch."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torchinfo
from torch import nn


@dataclass(frozen=True)
class LayerRow:
    name: str
    kind: str
    output_shape: tuple[int, ...]  # per image, (C, H, W) or (D,)
    params: int
    macs: int  # multiply-adds per image


@dataclass(frozen=True)
class ModelSummary:
    rows: list[LayerRow]
    params: int
    trainable_params: int
    macs_per_image: int
    activation_bytes_per_image: int  # fp32 outputs of every leaf layer, what training keeps for backward
    param_bytes: int
    batch_size: int

    @property
    def activation_bytes_per_batch(self) -> int:
        return self.activation_bytes_per_image * self.batch_size


def summarize(model: nn.Module, input_shape: tuple[int, int, int], batch_size: int = 32) -> ModelSummary:
    """Summarise `model` on inputs of shape (C, H, W); counts are per image unless named per batch."""
    stats = torchinfo.summary(model, input_size=(1, *input_shape), verbose=0, depth=100, device="cpu",
                              mode="eval")
    rows = []
    for layer in stats.summary_list:
        if not layer.is_leaf_layer:
            continue
        shape = tuple(layer.output_size[1:]) if layer.output_size else ()
        rows.append(LayerRow(_path(layer), layer.class_name,
                             shape, layer.num_params if layer.num_params > 0 else 0, int(layer.macs)))
    activations = sum(math.prod(r.output_shape) for r in rows if r.output_shape) * 4
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return ModelSummary(rows, params, trainable, int(stats.total_mult_adds), activations, params * 4, batch_size)


def _path(layer) -> str:
    names = []
    while layer is not None and layer.depth > 0:
        names.append(str(layer.var_name))
        layer = layer.parent_info
    return ".".join(reversed(names[:-1] if len(names) > 1 and names[-1] == "net" else names)) or "model"


def human(n: float, unit: str = "") -> str:
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {suffix}{unit}"
    return f"{n:.0f} {unit}".rstrip()


def human_bytes(n: float) -> str:
    for scale, suffix in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= scale:
            return f"{n / scale:.2f} {suffix}"
    return f"{n:.0f} B"
