"""The model zoo by name: its entries (zoo builders and timm:NAME), checked network building, rebuilding from a
saved spec. `cnnlab.models.factory.create_model` makes a model ready to train."""

from __future__ import annotations

import warnings

import torch
from torch import nn

from cnnlab.checks import check_number
from cnnlab.errors import ConfigError, ModelError
from cnnlab.memory import available_memory
from cnnlab.models.base import ImageClassifier, ModelSpec
from cnnlab.models.entries import MODELS, TIMM_PREFIX, ModelEntry, register_model
from cnnlab.models.timm_models import timm_entry
from cnnlab.options import said
from cnnlab.registry import Registry

__all__ = ["MODELS", "TIMM_PREFIX", "ModelEntry", "register_model", "load_zoo", "model_entry", "list_models",
           "check_model_options", "check_footprint", "build_network", "model_from_spec"]

def load_zoo() -> Registry[ModelEntry]:
    """MODELS, filled: the zoo's modules register their builders when first imported."""
    from cnnlab.models import classic, densenet, fast, modern  # noqa: F401

    return MODELS


def model_entry(name: str) -> ModelEntry:
    if name.startswith(TIMM_PREFIX):
        return timm_entry(name[len(TIMM_PREFIX):])
    return load_zoo().get(name)


def check_model_options(model: object, model_args: object, input_size: object) -> None:
    """ConfigError (or UnknownNameError listing the valid names) for a --model, --model-arg or --input-size
    that no model takes, before any data is read."""
    if not isinstance(model, str):
        raise ConfigError(f"{said('model')} must be a model name, got {model!r}")
    model_entry(model)
    if not isinstance(model_args, dict) or not all(isinstance(k, str) for k in model_args):
        raise ConfigError(f"{said('model_arg')} values must be KEY=VALUE pairs, got {model_args!r}")
    check_number("input_size", input_size, low=8, high=1024, integer=True, optional=True)


def list_models() -> list[str]:
    return load_zoo().names()


def _shape_error(spec: ModelSpec, entry: ModelEntry, channels: int, size: int, exc: Exception) -> ModelError:
    return ModelError(
        f"{spec.name} cannot take {channels}x{size}x{size} images "
        f"(the feature maps shrink to nothing or mismatch). Use a larger {said('image_size')} "
        f"(this model's usual size is {entry.default_size}). Detail: {str(exc).splitlines()[0]}")


def check_footprint(spec: ModelSpec, entry: ModelEntry, channels: int, classes: int, size: int) -> tuple[int, int]:
    """Build the network on the meta device (no memory is used) to count its parameters and the activation
    values of one image; ModelError when bad arguments, a size that does not fit, or a model too large to
    train in the memory free here would only show after gigabytes were allocated. Returns (params, values)."""
    activations = 0

    def count(module, inputs, output) -> None:
        nonlocal activations
        activations += output.numel() if isinstance(output, torch.Tensor) else 0

    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zero-element tensors: reported below
        try:
            net = entry.build(channels, classes, size, **spec.kwargs)
        except (TypeError, ValueError) as exc:
            raise ModelError(f"{spec.name}: bad model arguments {spec.kwargs}: {exc}") from exc
        except RuntimeError as exc:
            if "negative dimension" in str(exc):
                raise ModelError(f"{spec.name}: bad model arguments {spec.kwargs}: every width, filter count and "
                                 "size must be at least 1") from exc
            raise _shape_error(spec, entry, channels, size, exc) from exc
        params = sum(p.numel() for p in net.parameters())
        empty = [name for name, p in net.named_parameters() if p.numel() == 0]
        if empty:
            raise ModelError(f"{spec.name} with {spec.kwargs} has layers with no units ({', '.join(empty[:3])}); "
                             f"every width, filter count and size in {said('model_arg')} must be at least 1")
        hooks = [m.register_forward_hook(count) for m in net.modules() if not list(m.children())]
        try:
            with torch.no_grad():
                net.eval()(torch.zeros(1, channels, size, size))
        except RuntimeError as exc:
            raise _shape_error(spec, entry, channels, size, exc) from exc
        finally:
            for hook in hooks:
                hook.remove()
    need = 16 * params + 8 * activations  # weights, gradients, two Adam moments; one image's maps and gradients
    free = available_memory()
    if need > free // 2:
        raise ModelError(f"{spec.name} with {spec.kwargs or 'its defaults'} has {params:,} parameters and "
                         f"{activations:,} activation values per image: training it needs at least "
                         f"{need / 2**30:.1f} GiB even at batch size 1, more than half of the {free / 2**30:.1f} GiB "
                         f"free here. Choose smaller {said('model_arg')} values or a smaller {said('image_size')}")
    return params, activations


def build_network(spec: ModelSpec, num_classes: int | None = None) -> nn.Module:
    """Build the bare network of `spec` (with `num_classes` outputs if given) and check its input size."""
    entry = model_entry(spec.name)
    channels, size = spec.network_channels, spec.network_size
    classes = num_classes or spec.num_classes
    if not spec.name.startswith(TIMM_PREFIX):  # timm builders may not run on the meta device
        check_footprint(spec, entry, channels, classes, size)
    try:
        net = entry.build(channels, classes, size, **spec.kwargs)
        if spec.bn_eps is not None:
            for module in net.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eps = spec.bn_eps
        with torch.no_grad():
            was = net.training
            out = net.eval()(torch.zeros(1, channels, size, size))
            net.train(was)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{spec.name}: bad model arguments {spec.kwargs}: {exc}") from exc
    except RuntimeError as exc:
        raise _shape_error(spec, entry, channels, size, exc) from exc
    if out.shape != (1, classes):
        raise ModelError(f"{spec.name} put out {tuple(out.shape)} for one image, expected (1, {classes})")
    return net


def model_from_spec(spec: dict | ModelSpec) -> ImageClassifier:
    """Rebuild an (untrained) model from a saved spec; the caller loads the state dict."""
    spec = spec if isinstance(spec, ModelSpec) else ModelSpec(**spec)
    net = build_network(spec)
    return ImageClassifier(net, spec, [0.0] * spec.network_channels, [1.0] * spec.network_channels)
