"""Any timm architecture as `timm:NAME` (random initialisation; pretrained weights are their own matter)."""

from __future__ import annotations

from torch import nn

from cnnlab.errors import UnknownNameError
from cnnlab.models.entries import ModelEntry
from cnnlab.registry import unknown_name_message


def timm_entry(name: str):
    import timm

    if name not in timm.list_models():
        close = timm.list_models(f"*{name.split('_')[0]}*")[:20]
        raise UnknownNameError(unknown_name_message("timm model", name, close or timm.list_models()[:20]))

    def build(in_channels: int, num_classes: int, image_size: int, **kwargs) -> nn.Module:
        return timm.create_model(name, pretrained=False, num_classes=num_classes, in_chans=in_channels, **kwargs)

    cfg = timm.get_pretrained_cfg(name)
    size = cfg.input_size[-1] if cfg is not None else 224
    return ModelEntry(build, f"timm {name}", size)
