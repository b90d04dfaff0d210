"""The shared training engine."""

from cnnlab.train.device import resolve_device, seed_everything
from cnnlab.train.loop import (
    FitConfig,
    FitState,
    PhaseConfig,
    StepResult,
    fit,
    run_epoch,
)
from cnnlab.train.run import RunDir

__all__ = ["FitConfig", "FitState", "PhaseConfig", "RunDir", "StepResult", "fit", "resolve_device", "run_epoch",
           "seed_everything"]
