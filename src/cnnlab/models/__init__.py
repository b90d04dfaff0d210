"""The shared CNN zoo."""

from cnnlab.models import classic, densenet, fast, modern  # noqa: F401  (fill the registry)
from cnnlab.models.base import Backbone, ImageClassifier, ModelSpec, count_parameters
from cnnlab.models.registry import MODELS, create_model, list_models, model_entry, model_from_spec

__all__ = ["MODELS", "Backbone", "ImageClassifier", "ModelSpec", "count_parameters", "create_model",
           "list_models", "model_entry", "model_from_spec"]
