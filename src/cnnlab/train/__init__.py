"""The shared training engine. Names are imported on first use, so that importing a light part (configs,
run names) for the command line does not import torch."""

from importlib import import_module

_WHERE = {"resolve_device": "device", "seed_everything": "device", "FitConfig": "config", "PhaseConfig": "config",
          "FitState": "loop", "StepResult": "epoch", "fit": "loop", "run_epoch": "epoch", "RunDir": "run",
          "Task": "task", "Engine": "engine", "EngineSpec": "engine", "EngineState": "engine"}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = globals()[name] = getattr(import_module(f"cnnlab.train.{_WHERE[name]}"), name)  # found once
    return value
