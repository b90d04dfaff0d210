"""The GAN run's configuration: one frozen dataclass, saved as the run's config.json."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from cnnlab.checks import check_choice, check_device, check_number, config_with_augment
from cnnlab.data.augment_spec import AugmentConfig
from cnnlab.errors import ConfigError
from cnnlab.generate.diffaug import parse_policy
from cnnlab.generate.nets import GENERATORS, SIZES
from cnnlab.options import said
from cnnlab.train.board import check_tensorboard
from cnnlab.train.device import PRECISIONS
from cnnlab.train.names import check_run_name, default_run_name

# The seed's real-image augmentation: Keras RandomFlip("horizontal"), RandomZoom(0.1) and RandomRotation(0.1),
# which is a fraction of a full turn: 0.1 * 360 = 36 degrees either way.
SEED_AUGMENT = AugmentConfig(hflip=True, zoom=0.1, rotation=36.0)

# Adam settings per preset: (discriminator lr, generator lr, beta1, beta2).
# seed: the Keras DCGAN recipe the seed follows (Adam 1e-4 for both, Keras' default betas).
# dcgan: Radford et al. 2015, 2e-4 and beta1 0.5, which settles much faster (docs/benchmarks.md).
OPTIMIZER_PRESETS = {"seed": (1e-4, 1e-4, 0.9, 0.999), "dcgan": (2e-4, 2e-4, 0.5, 0.999)}

# The network settings a resumed run must share with the run folder's.
NETWORK_FIELDS = ("generator", "latent_dim", "image_size", "channels", "width", "spectral_norm")
# Keys every GAN run's config.json has had: a config.json without them is another task's.
REQUIRED_KEYS = ("data", "generator", "latent_dim", "image_size", "channels", "width", "epochs", "augment")
# What a run made before these settings existed trained with (its config.json lacks them).
BEFORE_SMALL_DATA = {"loss": "bce", "diffaug": "none", "ema": 0.0, "spectral_norm": False, "r1": 0.0}
# bce: the seed's (BCE on one batch of real + fake with noisy 1/0 targets; the generator's BCE against "real");
# nonsaturating: the logistic loss of Goodfellow et al. 2014 with exact targets, softplus(-D(x)) + softplus(D(G(z)))
#   for the discriminator and softplus(-D(G(z))) for the generator (StyleGAN2's and DiffAugment's);
# hinge: max(0, 1 - D(x)) + max(0, 1 + D(G(z))) and -D(G(z)) (SN-GAN, BigGAN).
LOSSES = ("bce", "nonsaturating", "hinge")
FEATURE_SPACES = ("auto", "efficientnet_lite0", "pixels")  # or run:CLASSIFIER_RUN


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
    label_noise: float = 0.05  # uniform noise of +- this on the discriminator's 1/0 targets (the seed's; bce only)
    # Of the real images only, in the loader (the seed's flip, zoom and rotation). With DiffAugment on, mirroring alone
    # would keep rotated or zoomed photos out of what the generator learns, but in the benchmark it trained worse
    # (docs/benchmarks.md, issue 24), so the seed's stays the default; --augment hflip is one flag away.
    augment: AugmentConfig = field(default_factory=lambda: SEED_AUGMENT)
    loss: str = "bce"  # bce (the seed's), nonsaturating or hinge: LOSSES above
    diffaug: str = "color,translation,cutout"  # DiffAugment of real and generated images alike, or none
    ema: float = 0.0  # decay per step of an averaged generator used for samples and scores (0.999); 0: none
    spectral_norm: bool = False  # spectral norm on the discriminator's layers, in place of its BatchNorm
    r1: float = 0.0  # R1 penalty weight gamma on the discriminator's gradient at real images; 0: none
    sample_every: int = 1  # save the fixed-noise sample grid every N epochs
    health_samples: int = 256  # generated images scored each epoch (FID, KID, precision, recall, diversity)
    features: str = "auto"  # feature extractor for diversity / FID / KID: auto, efficientnet_lite0, pixels, run:PATH
    precision: str = "auto"
    seed: int = 0
    device: str = "auto"
    max_seconds: float | None = None  # time budget: stop after the epoch that spends it
    tensorboard: bool = False  # also write TensorBoard events (losses, sample grids) to RUN/tensorboard
    name: str | None = None
    runs_dir: str = "runs"

    def __post_init__(self) -> None:
        """Refuse values out of their choices or ranges, before any data is read or folder made."""
        if not isinstance(self.data, str) or not self.data.strip() or self.data == "folder:":
            raise ConfigError(f"{said('data')} must be a folder of photos, folder:PATH or DATASET[:CLASS], got "
                              f"{self.data!r}")
        if not isinstance(self.runs_dir, str) or not self.runs_dir.strip():
            raise ConfigError(f"{said('runs_dir')} must be a folder, got {self.runs_dir!r}")
        if self.data_dir is not None and not isinstance(self.data_dir, str):
            raise ConfigError(f"{said('data_dir')} must be a folder, got {self.data_dir!r}")
        check_number("image_size", self.image_size, integer=True)
        if self.image_size not in SIZES:
            raise ConfigError(f"{said('image_size')} must be {' or '.join(map(str, SIZES))} for the DCGAN networks, "
                              f"got {self.image_size}")
        if self.channels not in (1, 3) or isinstance(self.channels, bool):
            raise ConfigError(f"{said('channels')} must be 1 (grayscale) or 3 (RGB), got {self.channels!r}")
        check_choice("generator", self.generator, GENERATORS.names())
        check_number("latent_dim", self.latent_dim, low=1, high=4096, integer=True)
        check_number("width", self.width, low=0, low_open=True, high=4)
        check_number("epochs", self.epochs, low=1, integer=True)
        check_number("batch_size", self.batch_size, low=1, high=1 << 16, integer=True)
        check_number("lr_d", self.lr_d, low=0, low_open=True, high=10)
        check_number("lr_g", self.lr_g, low=0, low_open=True, high=10)
        check_number("beta1", self.beta1, low=0, high=1, high_open=True)
        check_number("beta2", self.beta2, low=0, high=1, high_open=True)
        check_number("label_noise", self.label_noise, low=0, high=0.5, high_open=True)  # 1 - 0.5 would meet 0 + 0.5
        if not isinstance(self.augment, AugmentConfig):
            raise ConfigError(f"augment must be an AugmentConfig, got {self.augment!r}")
        check_choice("loss", self.loss, LOSSES)
        parse_policy(self.diffaug)
        check_number("ema", self.ema, low=0, high=1, high_open=True)
        if not isinstance(self.spectral_norm, bool):
            raise ConfigError(f"{said('spectral_norm')} must be true or false, got {self.spectral_norm!r}")
        check_number("r1", self.r1, low=0, high=1e6)
        check_number("sample_every", self.sample_every, low=1, integer=True)
        check_number("health_samples", self.health_samples, low=8, high=100_000, integer=True)
        if not isinstance(self.features, str) or not (self.features in FEATURE_SPACES or (
                self.features.startswith("run:") and self.features[4:].strip())):
            raise ConfigError(f"{said('features')} must be {', '.join(FEATURE_SPACES)} or run:CLASSIFIER_RUN, "
                              f"got {self.features!r}")
        check_choice("precision", self.precision, PRECISIONS)
        check_number("seed", self.seed, low=0, high=2**32 - 1, integer=True)
        check_device(self.device)
        check_number("max_seconds", self.max_seconds, low=0, low_open=True, optional=True)
        check_tensorboard(self.tensorboard)
        if self.name is not None and not isinstance(self.name, str):
            raise ConfigError(f"{said('name')} must be a folder name, got {self.name!r}")
        check_run_name(self.name)

    @property
    def run_path(self) -> Path:
        data = self.data.replace("folder:", "").rstrip("/").split("/")[-1].replace(":", "-") or "folder"
        name = self.name or default_run_name(self.generator, data, str(self.image_size))
        return Path(self.runs_dir) / "generate" / name

    def network(self) -> dict:
        return {k: getattr(self, k) for k in NETWORK_FIELDS}

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> GanConfig:
        """The config of a run folder's config.json; RunFolderError when it is not a GAN run's."""
        if isinstance(d, dict) and all(k in d for k in REQUIRED_KEYS):
            d = {**BEFORE_SMALL_DATA, **d}
            if isinstance(d.get("health_samples"), int) and 2 <= d["health_samples"] < 8:  # allowed before
                d["health_samples"] = 8
        return config_with_augment(cls, d, REQUIRED_KEYS, AugmentConfig, "generate")
