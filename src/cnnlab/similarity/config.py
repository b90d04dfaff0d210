"""The similarity run's configuration: one frozen dataclass, saved as the run's config.json."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from cnnlab.data.augment import AugmentConfig
from cnnlab.data.datasets import DataConfig
from cnnlab.train.loop import FitConfig

METHODS = ("siamese", "metric")
LOSSES = ("contrastive", "triplet", "multi-similarity")


@dataclass(frozen=True)
class SimilarityConfig:
    data: DataConfig = field(default_factory=lambda: DataConfig(name="digits"))
    model: str = "densenet-seed"  # the feature extractor, any zoo or timm:NAME model (the seed's DenseNet)
    model_args: dict = field(default_factory=dict)
    pretrained: bool = False
    weights: str | None = None
    input_size: int | None = None
    method: str = "siamese"  # siamese: the seed's pair classifier; metric: an embedding trained with `loss`
    loss: str = "multi-similarity"  # metric only: contrastive, triplet (semi-hard mining), multi-similarity
    embedding_dim: int = 128  # metric only: size of the L2-normalised embedding
    pairs: int | None = None  # siamese only: pairs per epoch, half same-class; None: one per training image
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    fit: FitConfig = field(default_factory=FitConfig)  # the seed: Adam 1e-3, 10 epochs
    name: str | None = None
    runs_dir: str = "runs"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")

    @property
    def run_path(self) -> Path:
        dataset = self.data.name.replace("folder:", "").rstrip("/").split("/")[-1] or "folder"
        default = f"{self.method}-{self.model.replace(':', '-')}-{dataset}"
        return Path(self.runs_dir) / "similarity" / (self.name or default)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SimilarityConfig:
        return cls(**{**d, "data": DataConfig(**d["data"]), "augment": AugmentConfig(**d["augment"]),
                      "fit": FitConfig.from_dict(d["fit"])})
