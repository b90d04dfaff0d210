"""How to train: FitConfig and its phases, checked when built (no torch here: the CLI builds them first)."""

from __future__ import annotations

from dataclasses import dataclass

from cnnlab.checks import check_choice, check_device, check_number
from cnnlab.errors import ConfigError
from cnnlab.options import said
from cnnlab.train.board import check_tensorboard

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "onecycle", "linear")
PRECISIONS = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class PhaseConfig:
    """One stretch of training with its own optimizer, e.g. a frozen backbone, then fine-tuning."""

    name: str = "train"
    epochs: int = 10
    optimizer: str = "adam"  # adam, adamw, sgd
    lr: float = 1e-3
    momentum: float = 0.9  # sgd only
    nesterov: bool = False  # sgd only
    schedule: str = "constant"  # per optimizer step, over this phase
    train: str = "all"  # all, or head: only the classifier learns and BatchNorm statistics stay frozen
    backbone_lr_scale: float = 1.0  # discriminative learning rates: everything but the head gets lr * this
    freeze_norm_stats: bool = False  # keep every BatchNorm in inference mode (fine-tuning pretrained nets)

    def __post_init__(self) -> None:
        check_number("epochs", self.epochs, low=1, integer=True)
        _check_optimizer(self)
        check_choice("train", self.train, ("all", "head"))
        check_number("backbone_lr_scale", self.backbone_lr_scale, low=0)


def frozen_then_finetune(frozen_epochs: int, frozen_lr: float, finetune_epochs: int, finetune_lr: float, *,
                         pretrained: bool, finetune_schedule: str = "constant") -> tuple[PhaseConfig, ...]:
    """Adam phases of transfer learning: the head alone on a frozen backbone, then everything; a pretrained
    backbone keeps its BatchNorm statistics while it fine-tunes. A phase of 0 epochs is left out."""
    phases = []
    if frozen_epochs:
        phases.append(PhaseConfig("frozen", frozen_epochs, "adam", frozen_lr, train="head"))
    if finetune_epochs:
        phases.append(PhaseConfig("finetune", finetune_epochs, "adam", finetune_lr, schedule=finetune_schedule,
                                  train="all", freeze_norm_stats=pretrained))
    return tuple(phases)


def split_epochs(epochs: int | None, freeze_epochs: int | None, finetune_epochs: int | None, *,
                 default_epochs: int, default_freeze: int | None) -> tuple[int, int]:
    """(frozen, fine-tuning) epochs of a transfer-learning room from the options given (None: not given).

    The same meaning in every room: --epochs is the run's epochs in all, --freeze-epochs of them with the
    backbone frozen and --finetune-epochs training everything. Given any two, the third follows; given all three,
    they must add up. `default_freeze` is the room's frozen share (None: all of --epochs), the rest fine-tunes."""
    for flag, value in (("epochs", epochs), ("freeze_epochs", freeze_epochs), ("finetune_epochs", finetune_epochs)):
        check_number(flag, value, low=0, integer=True, optional=True)
    if epochs is not None and freeze_epochs is not None and finetune_epochs is not None:
        if freeze_epochs + finetune_epochs != epochs:
            raise ConfigError(f"{said('freeze_epochs')} {freeze_epochs} and {said('finetune_epochs')} "
                              f"{finetune_epochs} do not add up "
                              f"to {said('epochs')} {epochs}: give two of the three")
        return freeze_epochs, finetune_epochs
    if epochs is None:  # each phase not given keeps the room's default
        base_freeze = default_epochs if default_freeze is None else default_freeze
        return (base_freeze if freeze_epochs is None else freeze_epochs,
                default_epochs - base_freeze if finetune_epochs is None else finetune_epochs)
    given = freeze_epochs if freeze_epochs is not None else finetune_epochs
    if given is not None and given > epochs:
        flag = f"{said('freeze_epochs')}" if freeze_epochs is not None else f"{said('finetune_epochs')}"
        raise ConfigError(f"{flag} {given} is more than {said('epochs')} {epochs} (the run's epochs in all)")
    if freeze_epochs is not None:
        return freeze_epochs, epochs - freeze_epochs
    if finetune_epochs is not None:
        return epochs - finetune_epochs, finetune_epochs
    frozen = epochs if default_freeze is None else min(default_freeze, epochs)
    return frozen, epochs - frozen


@dataclass(frozen=True)
class FitConfig:
    """How to train; the defaults are the seed labs' (Keras Adam, lr 1e-3)."""

    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "adam"  # adam, adamw, sgd
    lr: float = 1e-3  # base learning rate
    momentum: float = 0.9  # sgd only
    nesterov: bool = False  # sgd only
    weight_decay: float | None = None  # None: the model's own default (densenet-seed: the seed's L2)
    schedule: str = "constant"  # constant, cosine, onecycle, linear (per optimizer step)
    warmup_epochs: float = 0.0  # linear warm-up, in epochs
    label_smoothing: float = 0.0
    precision: str = "auto"  # auto (bf16 on CUDA and on CPUs with native bf16, else fp32), fp32, bf16
    patience: int | None = None  # early stopping: epochs without a better validation loss
    grad_clip: float | None = None  # max gradient norm
    seed: int = 0
    device: str = "auto"
    phases: tuple[PhaseConfig, ...] = ()  # when given, they replace epochs/optimizer/lr/.../schedule above
    max_seconds: float | None = None  # time budget (training time): stop when spent, mid-epoch too
    ema: float | None = None  # decay of an exponential moving average of the weights, used for validation
    tta: bool = False  # test-time augmentation: validation and test average the logits of image and mirror
    compile: bool = False  # torch.compile the model; its one-off cost is measured apart from training time
    channels_last: str = "auto"  # auto (on CUDA and CPU), on, off: NHWC memory layout for convolutions
    tensorboard: bool = False  # also write TensorBoard events to RUN/tensorboard

    def __post_init__(self) -> None:
        if not self.phases:
            check_number("epochs", self.epochs, low=1, integer=True)
        check_number("batch_size", self.batch_size, low=1, high=1 << 20, integer=True)
        _check_optimizer(self)
        check_number("weight_decay", self.weight_decay, low=0, optional=True)
        check_number("warmup_epochs", self.warmup_epochs, low=0)
        check_number("label_smoothing", self.label_smoothing, low=0, high=1, high_open=True)
        check_choice("precision", self.precision, PRECISIONS)
        check_number("patience", self.patience, low=1, integer=True, optional=True)
        check_number("grad_clip", self.grad_clip, low=0, low_open=True, optional=True)
        check_number("seed", self.seed, low=0, high=2**32 - 1, integer=True)
        check_device(self.device)
        check_number("max_seconds", self.max_seconds, low=0, optional=True)
        check_number("ema", self.ema, low=0, high=1, low_open=True, high_open=True, optional=True)
        check_choice("channels_last", self.channels_last, ("auto", "on", "off"))
        check_tensorboard(self.tensorboard)

    @property
    def total_epochs(self) -> int:
        return sum(p.epochs for p in self.plan())

    def plan(self) -> tuple[PhaseConfig, ...]:
        """The phases to run: the given ones, or one phase made of the plain fields."""
        return self.phases or (PhaseConfig("train", self.epochs, self.optimizer, self.lr, self.momentum,
                                           self.nesterov, self.schedule),)

    @classmethod
    def from_dict(cls, d: dict) -> FitConfig:
        return cls(**{**d, "phases": tuple(PhaseConfig(**p) for p in d.get("phases", ()))})


def _check_optimizer(cfg) -> None:
    """The optimizer fields FitConfig and PhaseConfig share."""
    check_choice("optimizer", cfg.optimizer, OPTIMIZERS)
    check_number("lr", cfg.lr, low=0, low_open=True, high=10)
    check_number("momentum", cfg.momentum, low=0, high=1, high_open=True)
    check_choice("schedule", cfg.schedule, SCHEDULES)
