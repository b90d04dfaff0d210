"""`cnnlab explain maps`: the feature maps of every convolution stage of a trained run for one image, the first
layer's filters as images, and each stage's receptive field."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from cnnlab.explain.cam import Picture
from cnnlab.explain.figures import plt, save, show_image
from cnnlab.models.probe import Stage, conv_stages, receptive_fields
from cnnlab.trained import TrainedNetwork

MAX_STAGES = 8  # rows of the figure; deeper networks show evenly spaced stages, the last always among them


def stage_table(trained: TrainedNetwork, stages: list[Stage]) -> list[dict]:
    """One row per stage: its layer, output, stride and receptive field on the network's input."""
    probe = min(max(trained.network_size, 32), 256)
    fields = receptive_fields(trained.network, [s.name for s in stages], trained.network_channels, probe)
    rows = []
    for i, stage in enumerate(stages, start=1):
        c, h, w = stage.shape
        field, jump = fields.get(stage.name, (None, None))
        rows.append({"stage": i, "layer": stage.name, "convolutions": stage.convs, "output CxHxW": f"{c}x{h}x{w}",
                     "stride": "" if jump is None else f"{jump} px",
                     "receptive field": f"{field}x{field} px" if field else f"over {probe}x{probe} px (all of it)"})
    return rows


def shown_stages(stages: list[Stage]) -> list[Stage]:
    if len(stages) <= MAX_STAGES:
        return stages
    picks = np.linspace(0, len(stages) - 1, MAX_STAGES).round().astype(int)
    return [stages[i] for i in sorted(set(picks.tolist()))]


def maps_figure(trained: TrainedNetwork, pic: Picture, stages: list[Stage], outputs: dict[str, torch.Tensor],
                rows: list[dict], folder: Path, per_stage: int = 8) -> Path:
    """A row per stage: the `per_stage` most active channels of its output, one colour scale (and bar) a row."""
    shown = shown_stages(stages)
    fig, axes = plt.subplots(len(shown), per_stage + 1, figsize=(1.9 * (per_stage + 1) + 1, 2.1 * len(shown)),
                             squeeze=False)
    by_name = {r["layer"]: r for r in rows}
    for i, stage in enumerate(shown):
        maps = outputs[stage.name][0].float().cpu()  # (C, H, W)
        order = maps.abs().mean((1, 2)).argsort(descending=True)[:per_stage].tolist()
        low, high = float(maps[order].min()), float(maps[order].max())
        info = by_name[stage.name]
        if i == 0:
            show_image(axes[i, 0], pic.shown, pic.path.name, f"model input {trained.image_size}x{trained.image_size}")
        else:
            axes[i, 0].axis("off")
        axes[i, 0].text(-0.1, 0.5, f"stage {info['stage']}\n{info['layer']}\n{info['output CxHxW']}\n"
                        f"RF {info['receptive field']}", transform=axes[i, 0].transAxes, ha="right", va="center",
                        fontsize=8)
        drawn = None
        for j in range(per_stage):
            ax = axes[i, j + 1]
            ax.axis("off")
            if j < len(order):
                drawn = ax.imshow(maps[order[j]].numpy(), cmap="viridis", vmin=low, vmax=high, interpolation="nearest")
                ax.set_title(f"channel {order[j]}", fontsize=7)
        if drawn is not None:
            fig.colorbar(drawn, ax=axes[i, 1:].tolist(), fraction=0.02, pad=0.01)
    fig.suptitle(f"Feature maps of {trained.name} for {pic.path.name}: the most active channels of each stage's "
                 f"last convolution (before its activation); "
                 f"network input {trained.network_size}x{trained.network_size}", fontsize=10, y=1.03)
    return save(fig, folder, f"maps-{pic.path.stem}.png")


def first_filters(network: nn.Module) -> tuple[str, torch.Tensor] | None:
    """The name and weights (F, C, k, k) of the network's first convolution."""
    for name, module in network.named_modules():
        if isinstance(module, nn.Conv2d):
            return name, module.weight.detach().float().cpu()
    return None


def filters_figure(trained: TrainedNetwork, folder: Path, limit: int = 64) -> Path | None:
    """The first layer's filters as small images: RGB when they take 3 channels (each scaled to its own range),
    gray on one shared scale (with a colour bar) otherwise (their first input channel)."""
    found = first_filters(trained.network)
    if found is None:
        return None
    name, weights = found
    weights = weights[:limit]
    count, channels, k, _ = weights.shape
    cols = min(8, count)
    rows = -(-count // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols + 1, 1.3 * rows + 0.8), squeeze=False)
    limit_value = float(weights.abs().max()) or 1.0
    drawn = None
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= count:
            continue
        w = weights[i]
        if channels == 3:
            w = (w - w.min()) / float(w.max() - w.min() or 1)
            ax.imshow(w.permute(1, 2, 0).numpy(), interpolation="nearest")
        else:
            drawn = ax.imshow(w[0].numpy(), cmap="gray", vmin=-limit_value, vmax=limit_value,
                              interpolation="nearest")
        ax.set_title(str(i), fontsize=7)
    if drawn is not None:
        fig.colorbar(drawn, ax=axes.ravel().tolist(), fraction=0.03, pad=0.02)
    shown = "RGB, each scaled to its range" if channels == 3 else "weights of input channel 0"
    fig.suptitle(f"First-layer filters of {trained.name} ({name}): {count} of {k}x{k}x{channels}, {shown}",
                 fontsize=10)
    return save(fig, folder, "first-filters.png")


def run_maps(trained: TrainedNetwork, pic: Picture, folder: Path, per_stage: int = 8) -> tuple[list[dict], list[Path]]:
    """Stage table, feature-map figure and first-layer filter figure of one image through a run's network."""
    from cnnlab.errors import ModelError

    with torch.no_grad():
        stages, outputs = conv_stages(trained.network, lambda: trained.model(pic.x))
    if not stages:
        raise ModelError(f"{trained.name} has no 2-D convolutions to show")
    rows = stage_table(trained, stages)
    written = [maps_figure(trained, pic, stages, outputs, rows, folder, per_stage)]
    filters = filters_figure(trained, folder)
    return rows, written + ([filters] if filters else [])
