"""U-Net on a timm encoder: skip features at strides 2, 4, 8, 16 and 32, and the seed's decoder.

For a 128x128 input the skips are 64x64, 32x32, 16x16, 8x8 and the 4x4 bottleneck; the decoder upsamples
with ConvTranspose 3x3 stride 2 + BatchNorm (+ Dropout 0.5) + ReLU blocks of 512, 256, 128, 64 filters,
concatenating each skip, then a last ConvTranspose to class logits at the input size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.errors import ModelError, UnknownNameError
from cnnlab.options import said
from cnnlab.registry import unknown_name_message

STRIDES = (2, 4, 8, 16, 32)
DECODER_FILTERS = (512, 256, 128, 64)  # the seed's


@dataclass(frozen=True)
class UNetSpec:
    """Everything needed to rebuild a U-Net before loading its weights."""

    encoder: str  # timm architecture, e.g. efficientnet_lite0, mobilenetv2_100, resnet18
    num_classes: int
    in_channels: int  # channels of the images given to the model (1 is repeated to the encoder's 3)
    image_size: int  # side the model works at (a multiple of 32)
    dropout: float = 0.0  # after each decoder block (the seed's optional Dropout 0.5)
    bn_eps: float | None = None  # encoder BatchNorm epsilon when the weights need another
    pretrained: str | None = None  # where the encoder's weights came from, for the record

    def to_dict(self) -> dict:
        return asdict(self)


def up_block(cin: int, cout: int, dropout: float) -> nn.Sequential:
    layers = [nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1, bias=False),
              nn.BatchNorm2d(cout)]
    if dropout:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers, nn.ReLU(inplace=True))


def build_encoder(name: str) -> nn.Module:
    import timm

    if name not in timm.list_models():
        raise UnknownNameError(unknown_name_message("encoder", name, ["efficientnet_lite0", "mobilenetv2_100",
                                                                     "resnet18", "resnet34", "...any timm CNN"]))
    encoder = timm.create_model(name, features_only=True, pretrained=False)
    reductions = encoder.feature_info.reduction()
    # The last feature map at each stride is the skip for it.
    picks = [max(i for i, r in enumerate(reductions) if r == s) for s in STRIDES if s in reductions]
    if len(picks) != len(STRIDES):
        raise ModelError(f"encoder {name} gives features at strides {reductions}; the U-Net needs {STRIDES}")
    return timm.create_model(name, features_only=True, pretrained=False, out_indices=picks)


class UNet(nn.Module):
    """Takes float images (N, C, S, S) in [0, 1] with S a multiple of 32; returns logits (N, K, S, S)."""

    def __init__(self, spec: UNetSpec, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.spec = spec
        self.encoder = build_encoder(spec.encoder)
        if spec.bn_eps is not None:
            for m in self.encoder.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eps = spec.bn_eps
        skips = self.encoder.feature_info.channels()  # strides 2, 4, 8, 16, 32
        channels = skips[-1]
        blocks = []
        for filters, skip in zip(DECODER_FILTERS, reversed(skips[:-1]), strict=True):
            blocks.append(up_block(channels, filters, spec.dropout))
            channels = filters + skip
        self.decoder = nn.ModuleList(blocks)
        self.head = nn.ConvTranspose2d(channels, spec.num_classes, 3, stride=2, padding=1, output_padding=1)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        self.notes: list[str] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-1]
        if x.shape[-2] != size or size % 32:
            padded = -(-max(x.shape[-2:]) // 32) * 32
            raise ModelError(f"the U-Net takes square images whose side is a multiple of 32; got "
                             f"{x.shape[-2]}x{x.shape[-1]}, use {said('image_size')} {padded}")
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        features = self.encoder((x - self.mean) / self.std)  # 5 maps, strides 2..32
        y = features[-1]  # (N, C, S/32, S/32)
        for block, skip in zip(self.decoder, reversed(features[:-1]), strict=True):
            y = torch.cat([block(y), skip], 1)  # (N, filters + skip C, 2H, 2W)
        return self.head(y)  # (N, K, S, S)

    def head_parameters(self) -> list[nn.Parameter]:
        """Everything but the encoder: what trains while the encoder is frozen."""
        return [p for n, p in self.named_parameters() if not n.startswith("encoder.")]

    def set_trainable(self, part: str) -> None:
        """'head' freezes the encoder (the seed's setting); 'all' fine-tunes it too."""
        for p in self.encoder.parameters():
            p.requires_grad_(part == "all")
        for p in self.head_parameters():
            p.requires_grad_(True)


def create_unet(encoder: str, num_classes: int, *, in_channels: int = 3, image_size: int = 128,
                dropout: float = 0.0, pretrained: bool = True, weights: str | None = None) -> UNet:
    """A U-Net whose encoder starts from ImageNet weights (found as in cnnlab.models.pretrained)."""
    if image_size % 32:
        raise ModelError(f"{said('image_size')} must be a multiple of 32 for the U-Net; use "
                         f"{-(-image_size // 32) * 32}")
    if not pretrained and not weights:
        spec = UNetSpec(encoder, num_classes, in_channels, image_size, dropout)
        return UNet(spec, [0.5] * 3, [0.5] * 3)
    import timm

    from cnnlab.models.pretrained import find_weights, load_pretrained, revive_dead_norm_channels

    source = find_weights(encoder, weights)
    full = timm.create_model(encoder, pretrained=False)
    notes = load_pretrained(full, source)
    cfg = full.pretrained_cfg
    spec = UNetSpec(encoder, num_classes, in_channels, image_size, dropout, source.bn_eps, source.describe())
    model = UNet(spec, list(source.mean or cfg["mean"]), list(source.std or cfg["std"]))
    missing, _ = model.encoder.load_state_dict(full.state_dict(), strict=False)
    if missing:
        raise ModelError(f"the {encoder} weights lack encoder tensors: {missing[:3]}")
    if dead := revive_dead_norm_channels(model.encoder):
        notes.append(f"{dead} dead BatchNorm channels (running variance ~0) set to variance 1")
    if in_channels == 1:
        notes.append("grayscale images are repeated to 3 channels for the RGB encoder")
    model.notes = notes
    return model


def unet_from_spec(spec: dict | UNetSpec) -> UNet:
    spec = spec if isinstance(spec, UNetSpec) else UNetSpec(**spec)
    return UNet(spec, [0.0] * 3, [1.0] * 3)


def upsample_logits(logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, K, S, S) -> (N, K, H, W), bilinear on logits (then argmax gives a smooth mask)."""
    return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
