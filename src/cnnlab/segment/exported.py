"""A U-Net that `cnnlab export` wrote, read back without its run folder: model.onnx through ONNX Runtime, or
model.safetensors rebuilt with the JSON beside it. Either is called like the UNet: float images (N, C, S, S)
in [0, 1] -> logits (N, K, S, S)."""

from __future__ import annotations

from pathlib import Path

from cnnlab.models.export import OnnxModel, read_safetensors, rebuilt
from cnnlab.segment.model import UNet, UNetSpec, unet_from_spec


class OnnxUNet(OnnxModel):
    """An exported U-Net run by ONNX Runtime on the CPU."""

    spec_type = UNetSpec


def load_exported(path: str | Path) -> tuple[UNet | OnnxUNet, list[str]]:
    """The model of a segment export and its class names; ExportError for a file that is not one."""
    if Path(path).suffix.lower() == ".onnx":
        model = OnnxUNet.load(path, "segment")
        return model, model.classes
    state, info = read_safetensors(path, "segment")
    return rebuilt(Path(path), lambda: unet_from_spec(info["spec"]), state), [str(c) for c in info["classes"]]
