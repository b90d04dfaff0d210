"""The shared CNN zoo. Names are imported on first use (the zoo needs torch; the command line starts
without it); `cnnlab.models.registry.load_zoo` fills the registry."""

from importlib import import_module

_WHERE = {"Backbone": "base", "ImageClassifier": "base", "ModelSpec": "base", "count_parameters": "base",
          "MODELS": "registry", "create_model": "factory", "list_models": "registry", "model_entry": "registry",
          "model_from_spec": "registry"}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import_module("cnnlab.models.registry").load_zoo()
    value = globals()[name] = getattr(import_module(f"cnnlab.models.{_WHERE[name]}"), name)  # found once
    return value
