"""The similarity run's defaults, measured on the Fashion-MNIST files (docs/benchmarks.md, issue 16); no torch
here, so the command line builds its help from them.

`--model auto` picks a backbone sized for the data: small images (a side of at most SMALL_IMAGE_SIDE, e.g.
Fashion-MNIST, CIFAR, digits) train the fast recipe's `airnet` from scratch in minutes on a CPU; photos
fine-tune ImageNet-pretrained EfficientNet-Lite0 (offline weights, see cnnlab.models.pretrained)."""

from __future__ import annotations

from cnnlab.options import said

AUTO = "auto"
SMALL_IMAGE_SIDE = 48  # MNIST-style 28 px, CIFAR-style 32 px
SMALL_MODEL = "airnet"
PHOTO_MODEL = "timm:efficientnet_lite0"
# AdamW with a one-cycle schedule; weight decay stays the model's own (airnet: 5e-4)
FIT_DEFAULTS = {"epochs": 20, "optimizer": "adamw", "lr": 3e-3, "schedule": "onecycle"}
AUGMENT_DEFAULT = "hflip"  # mirror images: right for clothes, photos and objects; pass --augment none for text


def sized_model(model: str, pretrained: bool, side: int) -> tuple[str, bool, str]:
    """(model, pretrained, why) for the configured model on images of `side` pixels: `auto` resolved, any
    other model as given."""
    if model != AUTO:
        return model, pretrained, ""
    if side <= SMALL_IMAGE_SIDE:
        return SMALL_MODEL, False, (f"{said('model')} auto: {SMALL_MODEL} trained from scratch for {side}x{side} "
                                    "images (small images: a fast net, no pretrained features needed)")
    return PHOTO_MODEL, True, (f"{said('model')} auto: ImageNet-pretrained {PHOTO_MODEL} fine-tuned for {side}x{side} "
                               "photos")
