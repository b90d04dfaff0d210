"""The similarity run's configuration: one frozen dataclass, saved as the run's config.json."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from cnnlab.checks import check_choice, check_number, config_from_dict
from cnnlab.data.augment_spec import AugmentConfig, parse_augment
from cnnlab.data.config import DataConfig
from cnnlab.errors import ConfigError
from cnnlab.models.registry import check_model_options
from cnnlab.options import said
from cnnlab.similarity.defaults import AUGMENT_DEFAULT, AUTO, FIT_DEFAULTS, SMALL_MODEL
from cnnlab.train.config import FitConfig
from cnnlab.train.names import check_run_name, default_run_name

METHODS = ("siamese", "metric")
SELECT_BY = ("map@r", "recall@1", "loss")  # what picks the checkpoint (and drives --patience): on the val split
LOSSES = ("contrastive", "triplet", "multi-similarity")


@dataclass(frozen=True)
class SimilarityConfig:
    data: DataConfig = field(default_factory=lambda: DataConfig(name="digits"))
    model: str = AUTO  # the feature extractor, any zoo or timm:NAME model; auto: sized for the data (defaults.py)
    model_args: dict = field(default_factory=dict)
    pretrained: bool = False
    weights: str | None = None
    input_size: int | None = None
    method: str = "siamese"  # siamese: the seed's pair classifier; metric: an embedding trained with `loss`
    loss: str = "multi-similarity"  # metric only: contrastive, triplet (semi-hard mining), multi-similarity
    embedding_dim: int = 128  # metric only: size of the L2-normalised embedding
    rank: bool = True  # siamese only: also train the shared features (what search ranks by) with `loss`
    pairs: int | None = None  # siamese only: pairs per epoch, half same-class; None: one per training image
    augment: AugmentConfig = field(default_factory=lambda: parse_augment(AUGMENT_DEFAULT))
    fit: FitConfig = field(default_factory=lambda: FitConfig(**FIT_DEFAULTS))  # AdamW one-cycle (the seed: Adam)
    select_by: str = "map@r"  # the checkpoint kept: best validation mAP@R (retrieval), Recall@1, or loss
    holdout_classes: int = 0  # the last N classes are never trained on and judged apart (holdout.py)
    per_class: int = 0  # metric only: images of each class drawn into a batch together (0: plain shuffled batches)
    name: str | None = None
    runs_dir: str = "runs"

    def __post_init__(self) -> None:
        """Refuse values out of their choices or ranges, before any data is read or folder made."""
        check_choice("method", self.method, METHODS)
        check_choice("loss", self.loss, LOSSES)
        check_choice("select_by", self.select_by, SELECT_BY)
        if not isinstance(self.rank, bool):
            raise ConfigError(f"rank must be true or false, got {self.rank!r}")
        check_number("per_class", self.per_class, low=0, high=1024, integer=True)
        check_number("holdout_classes", self.holdout_classes, low=0, high=100_000, integer=True)
        if self.per_class and (self.method != "metric" or not 2 <= self.per_class <= self.fit.batch_size // 2):
            raise ConfigError(f"{said('per_class')} takes 2 to half the batch size ({self.fit.batch_size // 2}) "
                              f"images of each class, with {said('method')} metric; got {self.per_class} with "
                              f"{said('method')} {self.method}")
        check_run_name(self.name)
        if self.model == AUTO:
            if self.model_args or self.pretrained or self.weights:
                raise ConfigError(f"{said('model')} auto picks the backbone and its weights itself: name a "
                                  f"{said('model')} to pass "
                                  f"{said('model_arg')}, {said('pretrained', True)} or {said('weights')}")
            check_model_options(SMALL_MODEL, {}, self.input_size)
        else:
            check_model_options(self.model, self.model_args, self.input_size)
        check_number("embedding_dim", self.embedding_dim, low=1, high=65536, integer=True)
        check_number("pairs", self.pairs, low=2, high=100_000_000, integer=True, optional=True)  # half same-class
        for name, value, kind in (("data", self.data, DataConfig), ("augment", self.augment, AugmentConfig),
                                  ("fit", self.fit, FitConfig)):
            if not isinstance(value, kind):
                raise ConfigError(f"{name} must be a {kind.__name__}, got {value!r}")
        if not isinstance(self.runs_dir, str) or not self.runs_dir:
            raise ConfigError(f"{said('runs_dir')} must be a folder path, got {self.runs_dir!r}")

    @property
    def run_path(self) -> Path:
        dataset = self.data.name.replace("folder:", "").rstrip("/").split("/")[-1] or "folder"
        return Path(self.runs_dir) / "similarity" / (self.name or default_run_name(self.method, self.model, dataset))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SimilarityConfig:
        """The config of a run's config.json; RunFolderError for one of the wrong shape (another task's)."""
        return config_from_dict(cls._from_dict, d, "similarity")

    @classmethod
    def _from_dict(cls, d: dict) -> SimilarityConfig:
        # runs from before these settings keep their behaviour
        d = {"per_class": 0, "select_by": "loss", "rank": False, **d}
        return cls(**{**d, "data": DataConfig(**d["data"]), "augment": AugmentConfig(**d["augment"]),
                      "fit": FitConfig.from_dict(d["fit"])})
