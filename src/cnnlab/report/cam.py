"""Grad-CAM (Selvaraju et al., 2017): where in an image the evidence for a score lies, from the gradients of the
score with respect to the last feature maps of a CNN. Computed by captum's LayerGradCam (Meta's attribution
library); shared by `cnnlab explain cam` (every task's runs) and the classification report.

Images are float tensors (1, C, H, W) in [0, 1]; heat maps are float arrays (H, W) in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from cnnlab.models.probe import cam_layer


def grad_cam(forward: Callable[[torch.Tensor], torch.Tensor], network: nn.Module, x: torch.Tensor,
             targets: list[int] | None = None, layer: tuple[str, nn.Module] | None = None,
             size: tuple[int, int] | None = None, absolute: bool = False) -> tuple[np.ndarray, str]:
    """Heat maps (K, H, W) in [0, 1] of image `x` (1, C, H, W) for each target index of `forward`'s outputs
    (N, outputs), or one map for a `forward` that puts out one score per image (N,) when `targets` is None;
    and the name of the layer read (by default the last feature maps of `network`, see probe.cam_layer).
    Maps are (H, W) of `x`, or `size`. Each is scaled by its own maximum; a score no region raises gives a map of
    zeros. `absolute` maps the evidence either way (|Grad-CAM| instead of its positive part), for outputs whose
    direction means nothing by itself, such as a box's coordinates."""
    from captum.attr import LayerAttribution, LayerGradCam

    if layer is None:
        with torch.no_grad():
            layer = cam_layer(network, lambda: forward(x))
    name, module = layer
    count = len(targets) if targets is not None else 1
    batch = x.expand(count, *x.shape[1:]).clone()
    with torch.enable_grad():
        attributions = LayerGradCam(forward, module).attribute(batch, target=targets, relu_attributions=not absolute)
        if absolute:
            attributions = attributions.abs()
        heat = LayerAttribution.interpolate(attributions.detach().float(), size or tuple(x.shape[2:]), "bilinear")
    heat = heat[:, 0].clamp(min=0).cpu().numpy()  # (K, H, W)
    peak = heat.reshape(count, -1).max(1).reshape(count, 1, 1)
    return np.where(peak > 0, heat / np.where(peak > 0, peak, 1), 0.0), name


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """An (H, W, 3) picture: the image (H, W, C) in [0, 1], half grayed, under the heat map (H, W) coloured by
    jet, each pixel as opaque as its weight (so the image stays visible where the map is cold)."""
    from matplotlib import colormaps

    gray = image.mean(2, keepdims=True) if image.shape[2] != 1 else image
    base = np.repeat(gray, 3, axis=2) if image.shape[2] == 1 else 0.5 * image + 0.5 * np.repeat(gray, 3, axis=2)
    colour = colormaps["jet"](np.clip(heat, 0, 1))[..., :3]
    weight = alpha * np.clip(heat, 0, 1)[..., None]
    return np.clip((1 - weight) * base + weight * colour, 0, 1)


def show_cam(fig, ax, image: np.ndarray, heat: np.ndarray, title: str, colorbar: bool = True) -> None:
    """The overlay on a matplotlib axis with a colour bar of the Grad-CAM weight (0 to 1)."""
    from matplotlib import cm
    from matplotlib.colors import Normalize

    ax.imshow(overlay(image, heat))
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    if colorbar:
        bar = fig.colorbar(cm.ScalarMappable(Normalize(0, 1), "jet"), ax=ax, fraction=0.046, pad=0.04)
        bar.set_label("Grad-CAM weight", fontsize=8)
