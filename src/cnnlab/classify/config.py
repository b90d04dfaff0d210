"""The classification run's configuration: one frozen dataclass, saved as the run's config.json."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from cnnlab.data.augment import AugmentConfig
from cnnlab.data.datasets import DataConfig
from cnnlab.train.loop import FitConfig


@dataclass(frozen=True)
class ClassifyConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: str = "baseline-cnn"
    model_args: dict = field(default_factory=dict)  # builder keywords, e.g. {"kernel": 5}
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    fit: FitConfig = field(default_factory=FitConfig)
    name: str | None = None  # run folder name; default "<model>-<data>"
    runs_dir: str = "runs"

    @property
    def run_path(self) -> Path:
        dataset = self.data.name.replace("folder:", "").rstrip("/").split("/")[-1] or "folder"
        return Path(self.runs_dir) / "classify" / (self.name or f"{self.model.replace(':', '-')}-{dataset}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ClassifyConfig:
        fit = dict(d["fit"])
        return cls(data=DataConfig(**d["data"]), model=d["model"], model_args=d.get("model_args", {}),
                   augment=AugmentConfig(**d["augment"]), fit=FitConfig(**fit), name=d.get("name"),
                   runs_dir=d.get("runs_dir", "runs"))
