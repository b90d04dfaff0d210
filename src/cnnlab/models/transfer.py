"""Build a classifier on pretrained weights: load them, adapt channels and input size, replace the head."""

from __future__ import annotations

from cnnlab.errors import ModelError
from cnnlab.models.base import ImageClassifier, ModelSpec
from cnnlab.models.pretrained import (
    WeightSource,
    find_weights,
    load_pretrained,
    read_state_dict,
    revive_dead_norm_channels,
)
from cnnlab.models.registry import TIMM_PREFIX, build_network, model_entry
from cnnlab.options import said


def pretrained_model(name: str, in_channels: int, num_classes: int, image_size: int, *, weights: str | None = None,
                     input_size: int | None = None, **kwargs) -> ImageClassifier:
    """`name` with pretrained weights and a new `num_classes` head; notes say what was adapted."""
    if not name.startswith(TIMM_PREFIX):
        return _zoo_with_weights(name, in_channels, num_classes, image_size, weights, input_size, **kwargs)
    import timm

    arch = name[len(TIMM_PREFIX):]
    model_entry(name)  # unknown names fail here with suggestions
    source = find_weights(arch, weights)
    cfg = timm.get_pretrained_cfg(arch)
    cfg_dict = cfg.to_dict() if cfg is not None else {}
    size = input_size or (cfg_dict.get("input_size") or (3, 224, 224))[-1]
    spec = ModelSpec(name, in_channels, num_classes, image_size, dict(kwargs), net_channels=3, input_size=size,
                     pretrained=source.describe(), bn_eps=source.bn_eps)
    pretrained_classes = cfg_dict.get("num_classes") or 1000
    net = build_network(spec, num_classes=pretrained_classes)
    notes = load_pretrained(net, source)
    if dead := revive_dead_norm_channels(net):
        notes.append(f"{dead} dead BatchNorm channels (running variance ~0) set to variance 1: same predictions, "
                     "stable fine-tuning")
    if pretrained_classes != num_classes:
        net.reset_classifier(num_classes)
        notes.append(f"new classifier head: the weights classify {pretrained_classes} classes, this task "
                     f"{num_classes}")
    mean = source.mean or cfg_dict.get("mean") or (0.485, 0.456, 0.406)
    std = source.std or cfg_dict.get("std") or (0.229, 0.224, 0.225)
    model = ImageClassifier(net, spec, list(mean), list(std))
    model.notes = notes + _adaptation_notes(spec)
    return model


def _adaptation_notes(spec: ModelSpec) -> list[str]:
    notes = []
    if spec.in_channels == 1:
        notes.append("grayscale images are repeated to 3 channels for the RGB backbone")
    if spec.image_size != spec.network_size:
        notes.append(f"images are resized from {spec.image_size}x{spec.image_size} to the backbone's "
                     f"{spec.network_size}x{spec.network_size}")
    return notes


def _zoo_with_weights(name: str, in_channels: int, num_classes: int, image_size: int, weights: str | None,
                      input_size: int | None, **kwargs) -> ImageClassifier:
    """A cnnlab zoo network started from a weights file (e.g. another run's checkpoint)."""
    if not weights:
        raise ModelError(f"{name} has no published pretrained weights; use timm:NAME (e.g. timm:efficientnet_lite0) "
                         f"or pass {said('weights')} PATH")
    tensors = read_state_dict(weights)
    head = [k for k in tensors if k.startswith("head.")]
    file_classes = tensors[head[-2]].shape[0] if len(head) >= 2 else num_classes
    spec = ModelSpec(name, in_channels, num_classes, image_size, dict(kwargs), input_size=input_size,
                     pretrained=f"file: {weights}")
    net = build_network(spec, num_classes=file_classes)
    notes = load_pretrained(net, WeightSource(name, "file", weights))
    if file_classes != num_classes:
        net.reset_classifier(num_classes)
        notes.append(f"new classifier head: the weights classify {file_classes} classes, this task {num_classes}")
    channels = spec.network_channels
    model = ImageClassifier(net, spec, [0.5] * channels, [0.5] * channels)
    model.notes = notes
    return model
