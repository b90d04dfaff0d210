"""What a localize run is: LocalizeConfig, checked when built (no torch here: the CLI builds it first)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from cnnlab.checks import check_choice, check_device, check_number, config_with_augment
from cnnlab.data.boxes import RESIZES, check_box_spec
from cnnlab.data.boxes.augment import BoxAugment
from cnnlab.errors import ConfigError
from cnnlab.options import said
from cnnlab.train.config import FitConfig, frozen_then_finetune
from cnnlab.train.names import check_run_name, default_run_name

HEADS = ("single", "detect")  # one object: class + box from pooled features; several: a grid of cells
BOX_LOSSES = ("mse", "smooth-l1", "giou")  # mse: the lecture's; the others from torchvision.ops
BUILTIN = ("digits", "digits-multi")  # scikit-learn's digits pasted on a canvas at known boxes (1 or 3 an image)
REQUIRED_KEYS = ("data", "head", "model", "image_size", "box_loss", "augment")  # every localize config.json's


@dataclass(frozen=True)
class LocalizeConfig:
    data: str = "digits"  # digits, digits-multi, or FORMAT:PATH (voc, oxford-pet, csv, yolo, coco, via)
    label: str = "species"  # oxford-pet: species (cat/dog) or breed
    attribute: str = "class"  # via: the region attribute that names the class
    head: str = "single"
    model: str = "timm:efficientnet_lite0"  # any zoo name or timm:NAME whose features are a map
    pretrained: bool = True  # ImageNet weights (offline for EfficientNet-Lite0)
    weights: str | None = None
    image_size: int = 224
    resize: str = "letterbox"  # into the square: letterbox keeps the aspect (gray border); runs before it: stretch
    box_loss: str = "giou"
    cls_weight: float = 1.0  # the lecture's loss_weights are 0.8 (class) and 0.2 (box)
    box_weight: float = 1.0
    augment: BoxAugment = field(default_factory=BoxAugment)
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    drop_leaks: bool = False  # leave out validation and test images that duplicate a training image
    freeze_epochs: int = 3  # the backbone frozen: only the heads learn
    finetune_epochs: int = 5  # then everything
    freeze_lr: float = 3e-3  # Adam; measured on the Pet head boxes (docs/benchmarks.md)
    finetune_lr: float = 5e-4
    batch_size: int = 16  # small sets: more steps an epoch
    max_seconds: float | None = None  # training-time budget
    seed: int = 0
    device: str = "auto"
    name: str | None = None
    runs_dir: str = "runs"

    def __post_init__(self) -> None:
        check_box_spec(self.data, BUILTIN)
        check_choice("label", self.label, ("species", "breed"))
        if not isinstance(self.attribute, str) or not self.attribute.strip():
            raise ConfigError(f"{said('attribute')} must name a VIA region attribute, got {self.attribute!r}")
        check_choice("head", self.head, HEADS)
        if not isinstance(self.model, str) or not self.model.strip():
            raise ConfigError(f"{said('model')} must be a model name, got {self.model!r}")
        for flag in ("pretrained",):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"--{flag} must be true or false, got {getattr(self, flag)!r}")
        check_number("image_size", self.image_size, low=32, high=1024, integer=True)
        check_choice("resize", self.resize, RESIZES)
        check_choice("box_loss", self.box_loss, BOX_LOSSES)
        check_number("cls_weight", self.cls_weight, low=0)
        check_number("box_weight", self.box_weight, low=0)
        if self.cls_weight + self.box_weight <= 0:
            raise ConfigError(f"{said('cls_weight')} and {said('box_weight')} are both 0: nothing would be learnt")
        if not isinstance(self.augment, BoxAugment):
            raise ConfigError(f"augment must be a BoxAugment, got {self.augment!r}")
        check_number("val_fraction", self.val_fraction, low=0, high=0.5, low_open=True)
        if not isinstance(self.drop_leaks, bool):
            raise ConfigError(f"{said('drop_leaks')} must be true or false, got {self.drop_leaks!r}")
        check_number("test_fraction", self.test_fraction, low=0, high=0.5)
        self._check_training()
        check_run_name(self.name)
        if not isinstance(self.runs_dir, str) or not self.runs_dir.strip():
            raise ConfigError(f"{said('runs_dir')} must be a folder, got {self.runs_dir!r}")

    def _check_training(self) -> None:
        check_number("freeze_epochs", self.freeze_epochs, low=0, integer=True)
        check_number("finetune_epochs", self.finetune_epochs, low=0, integer=True)
        if self.freeze_epochs + self.finetune_epochs < 1:
            raise ConfigError(f"{said('freeze_epochs')} and {said('finetune_epochs')} are both 0: give at least one "
                              "epoch to train")
        check_number("freeze_lr", self.freeze_lr, low=0, low_open=True, high=10)
        check_number("finetune_lr", self.finetune_lr, low=0, low_open=True, high=10)
        check_number("batch_size", self.batch_size, low=2, high=1 << 16, integer=True)  # BatchNorm needs 2
        check_number("max_seconds", self.max_seconds, low=0, optional=True)
        check_number("seed", self.seed, low=0, high=2**32 - 1, integer=True)
        check_device(self.device)

    @property
    def run_path(self) -> Path:
        data = self.data.split(":")[0]
        return Path(self.runs_dir) / "localize" / (self.name or default_run_name(self.head, self.model, data))

    def to_dict(self) -> dict:
        return asdict(self)

    def fit_config(self) -> FitConfig:
        """The frozen phase trains the heads only (BatchNorm statistics kept), then fine-tuning trains all."""
        phases = frozen_then_finetune(self.freeze_epochs, self.freeze_lr, self.finetune_epochs, self.finetune_lr,
                                      pretrained=self.pretrained or bool(self.weights), finetune_schedule="cosine")
        return FitConfig(batch_size=self.batch_size, seed=self.seed, device=self.device, phases=phases,
                         max_seconds=self.max_seconds, precision="auto")

    @classmethod
    def from_dict(cls, d: dict) -> LocalizeConfig:
        """The config of a run folder's config.json; RunFolderError when it is not a localize run's. A run made
        before --resize existed stretched its images, and keeps doing so."""
        if isinstance(d, dict) and "resize" not in d:
            d = {**d, "resize": "stretch"}
        return config_with_augment(cls, d, REQUIRED_KEYS, BoxAugment, "localize")
