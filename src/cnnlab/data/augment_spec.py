"""What augmentation to apply: AugmentConfig, the presets and the --augment parser (no torch here)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from cnnlab.checks import check_number
from cnnlab.errors import CnnlabError
from cnnlab.registry import unknown_name_message

__all__ = ["DEFAULTS", "INTEGER", "PRESETS", "AugmentConfig", "parse_augment"]


@dataclass(frozen=True)
class AugmentConfig:
    """Magnitudes of each augmentation; 0 (or False) switches it off."""

    hflip: bool = False  # horizontal flip with p=0.5
    vflip: bool = False  # vertical flip with p=0.5
    rotation: float = 0.0  # max degrees either way
    zoom: float = 0.0  # max relative scale change either way (0.1: 0.9x..1.1x)
    shift: float = 0.0  # max translation as a fraction of the image side
    contrast: float = 0.0  # factor drawn from 1 +- contrast
    brightness: float = 0.0  # factor drawn from 1 +- brightness
    saturation: float = 0.0  # factor drawn from 1 +- saturation (RGB only)
    grayscale: float = 0.0  # probability of turning an RGB image gray
    translate: int = 0  # max whole-pixel shift either way, edges mirrored (pad-and-crop, the fast recipes')
    cutout: int = 0  # side in pixels of a square at a random place set to mid-gray

    def __post_init__(self) -> None:
        for name, high in (("rotation", 180), ("zoom", 0.9), ("shift", 0.5), ("contrast", 1), ("brightness", 1),
                           ("saturation", 1), ("grayscale", 1)):
            check_number(name, getattr(self, name), low=0, high=high)
        for name in INTEGER:
            check_number(name, getattr(self, name), low=0, high=1024, integer=True)

    @property
    def enabled(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))


# The value a switch takes when named without one: the seed labs' magnitudes.
DEFAULTS = {"hflip": True, "vflip": True, "rotation": 10.0, "zoom": 0.1, "shift": 0.1, "contrast": 0.2,
            "brightness": 0.2, "saturation": 0.2, "grayscale": 0.5, "translate": 2, "cutout": 8}
INTEGER = ("translate", "cutout")
PRESETS = {
    "none": AugmentConfig(),
    "standard": AugmentConfig(hflip=True, rotation=10.0, zoom=0.1, shift=0.1, contrast=0.2),
    "all": AugmentConfig(**{k: v for k, v in DEFAULTS.items() if k not in INTEGER}),  # the seed labs' set
    "fast": AugmentConfig(hflip=True, translate=2),  # the fast CIFAR recipes': flip and 2-pixel translation
}


def parse_augment(spec: str) -> AugmentConfig:
    """Parse 'standard', 'none', or a list such as 'hflip,rotation=15,grayscale=0.5'."""
    spec = spec.strip()
    if spec in PRESETS:
        return PRESETS[spec]
    cfg = AugmentConfig()
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, value = item.partition("=")
        if name in PRESETS:
            cfg = PRESETS[name]
            continue
        if name not in DEFAULTS:
            raise CnnlabError(unknown_name_message("augmentation", name, [*DEFAULTS, *PRESETS]))
        try:
            parsed = DEFAULTS[name] if not value else (value.lower() in ("1", "true", "yes")
                                                       if isinstance(DEFAULTS[name], bool) else
                                                       int(value) if name in INTEGER else float(value))
        except ValueError:
            raise CnnlabError(f"augmentation {name!r} needs a number, got {value!r}") from None
        cfg = replace(cfg, **{name: parsed})
    return cfg
