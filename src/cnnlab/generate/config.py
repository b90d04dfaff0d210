"""The GAN run's configuration: one frozen dataclass, saved as the run's config.json."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from cnnlab.data.augment import AugmentConfig

# The seed's real-image augmentation: Keras RandomFlip("horizontal"), RandomZoom(0.1) and RandomRotation(0.1),
# which is a fraction of a full turn: 0.1 * 360 = 36 degrees either way.
SEED_AUGMENT = AugmentConfig(hflip=True, zoom=0.1, rotation=36.0)

# Adam settings per preset: (discriminator lr, generator lr, beta1, beta2).
# seed: the Keras DCGAN recipe the seed follows (Adam 1e-4 for both, Keras' default betas).
# dcgan: Radford et al. 2015, 2e-4 and beta1 0.5, which settles much faster (docs/benchmarks.md).
OPTIMIZER_PRESETS = {"seed": (1e-4, 1e-4, 0.9, 0.999), "dcgan": (2e-4, 2e-4, 0.5, 0.999)}

# The network settings a resumed run must share with the run folder's.
NETWORK_FIELDS = ("generator", "latent_dim", "image_size", "channels", "width")


@dataclass(frozen=True)
class GanConfig:
    data: str = "flowers17"  # a folder of photos, folder:PATH, or DATASET[:CLASS] such as cifar10:cat
    data_dir: str | None = None
    image_size: int = 64  # 32 or 64 (the seed: 64)
    channels: int = 3
    generator: str = "transposed"  # transposed or upsampling (the seed's two generators)
    latent_dim: int = 128
    width: float = 1.0  # filter counts x this, in both networks (1.0: the seed's; 0.25 for quick CPU trials)
    epochs: int = 50
    batch_size: int = 32  # the seed's
    lr_d: float = 2e-4
    lr_g: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    label_noise: float = 0.05  # uniform noise of +- this on the discriminator's 1/0 targets (the seed's)
    augment: AugmentConfig = field(default_factory=lambda: SEED_AUGMENT)
    sample_every: int = 1  # save the fixed-noise sample grid every N epochs
    health_samples: int = 256  # generated images per epoch for the diversity (mode-collapse) score
    features: str = "auto"  # feature extractor for diversity / FID / KID: auto, efficientnet_lite0, pixels, run:PATH
    precision: str = "auto"
    seed: int = 0
    device: str = "auto"
    max_seconds: float | None = None  # time budget: stop after the epoch that spends it
    name: str | None = None
    runs_dir: str = "runs"

    @property
    def run_path(self) -> Path:
        data = self.data.replace("folder:", "").rstrip("/").split("/")[-1].replace(":", "-") or "folder"
        return Path(self.runs_dir) / "generate" / (self.name or f"{self.generator}-{data}-{self.image_size}")

    def network(self) -> dict:
        return {k: getattr(self, k) for k in NETWORK_FIELDS}

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> GanConfig:
        return cls(**{**d, "augment": AugmentConfig(**d["augment"])})
