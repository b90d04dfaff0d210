"""The localizer as `cnnlab export` writes it, and read back without its run folder.

The exported graph takes float images (N, C, S, S) in [0, 1] and puts out, for the single head, (logits (N, K),
boxes (N, 4)); for the grid detector, (grid (N, 5 + K, G, G), boxes (N, G*G, 4), scores (N, G*G, K)): the raw
grid for cnnlab's own decoding, and every cell's box and class scores decoded inside the graph, so another
program needs only a threshold and non-maximum suppression. Boxes are xyxy in [0, 1] of the image.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from cnnlab.data.boxes import RESIZES
from cnnlab.localize.detect import cell_scores, grid_boxes
from cnnlab.localize.model import Localizer, LocalizerSpec, localizer_from_spec
from cnnlab.models.export import ExportError, OnnxModel, read_safetensors, rebuilt

OUTPUTS = {"single": ("logits", "boxes"), "detect": ("grid", "boxes", "scores")}


class LocalizerGraph(nn.Module):
    """A Localizer with tuple outputs, as exported (see the module's docstring)."""

    def __init__(self, model: Localizer) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(x)
        if "grid" not in out:
            return out["logits"], out["boxes"]
        grid = out["grid"].float()
        return grid, grid_boxes(grid).flatten(1, 2), cell_scores(grid)  # (N, 5+K, G, G), (N, G*G, 4), (N, G*G, K)


class OnnxLocalizer(OnnxModel):
    """An exported localizer run by ONNX Runtime, called like the Localizer: images -> {"logits", "boxes"} for the
    single head, {"grid"} for the detector."""

    spec_type = LocalizerSpec

    def __call__(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        outs = super().__call__(x)
        if self.spec.head == "single":
            return {"logits": outs[0], "boxes": outs[1]}
        return {"grid": outs[0]}


def export_resize(path: str | Path, info: dict) -> str:
    """How images go into the exported model's square: the metadata's `resize`; exports made before it was
    written came from runs that stretched their images."""
    resize = info.get("resize", "stretch")
    if resize not in RESIZES:
        raise ExportError(f"{path} says its images are resized by {resize!r}, not one of {', '.join(RESIZES)}; export "
                          "the run again")
    return resize


def load_exported(path: str | Path) -> tuple[Localizer | OnnxLocalizer, list[str], str]:
    """The model of a localize export, its class names and how images go into its square (stretch or letterbox);
    ExportError for a file that is not one."""
    if Path(path).suffix.lower() == ".onnx":
        model = OnnxLocalizer.load(path, "localize")
        return model, model.classes, export_resize(path, model.info)
    state, info = read_safetensors(path, "localize")
    model = rebuilt(Path(path), lambda: localizer_from_spec(info["spec"]), state)
    return model, [str(c) for c in info["classes"]], export_resize(path, info)
