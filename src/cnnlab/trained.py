"""The trained network of a run of any task with a CNN, for the commands that look inside one (`cnnlab explain`).

Like the root command, this module knows the task rooms by name and loads each through the room's own loader;
the rooms never import each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path

from torch import nn

from cnnlab.errors import RunFolderError
from cnnlab.runs import task_of
from cnnlab.train.device import resolve_device
from cnnlab.train.run import RunDir


@dataclass
class TrainedNetwork:
    """A run's model in inference mode and what the explain commands need to feed and read it.

    `model` takes float images (N, C, S, S) in [0, 1] (C = channels, S = image_size) and puts out class logits
    (N, K) for a classifier (`classes` names them), L2-normalised embeddings (N, D) for a similarity run, and
    mask logits (N, K, S, S) for a segmentation run. `network` is the CNN inside it after the preprocessing,
    taking `network_channels`-channel images: the part whose convolutions are shown and probed.
    """

    task: str
    name: str
    model: nn.Module
    network: nn.Module
    channels: int
    image_size: int
    network_channels: int
    network_size: int
    classes: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return {"classify": "classes", "similarity": "embedding", "segment": "mask"}[self.task]


def _classify(path: Path) -> TrainedNetwork:
    loaded = import_module("cnnlab.classify.evaluate").load_classifier(path, device="cpu")
    model, spec = loaded.model, loaded.model.spec
    return TrainedNetwork("classify", spec.name, model, model.net, spec.in_channels, spec.image_size,
                          spec.network_channels, spec.network_size, loaded.classes)


def _similarity(path: Path) -> TrainedNetwork:
    net, _, _ = import_module("cnnlab.similarity.embed").load_run_network(path)
    backbone = net.backbone
    spec = backbone.spec
    return TrainedNetwork("similarity", f"{net.method} {spec.name}", net.eval(), backbone.net, spec.in_channels,
                          spec.image_size, spec.network_channels, spec.network_size)


def _segment(path: Path) -> TrainedNetwork:
    unet, classes = import_module("cnnlab.segment.predict").load_unet(path)
    spec = unet.spec
    return TrainedNetwork("segment", f"U-Net on {spec.encoder}", unet.eval(), unet.encoder, spec.in_channels,
                          spec.image_size, 3, spec.image_size, classes)


LOADERS = {"classify": _classify, "similarity": _similarity, "segment": _segment}


def load_trained(run_path: str | Path, device: str = "auto") -> TrainedNetwork:
    """The best checkpoint's network of the run folder `run_path`, on `device`; RunFolderError for a folder
    that is not a run, a damaged one, or a run of a task without an image CNN (generate)."""
    run = RunDir.open(run_path)
    task = task_of(run.path)
    run.check_task(task)
    if task not in LOADERS:
        hint = " (Grad-CAM of a localizer: `cnnlab explain cam RUN IMAGES`)" if task == "localize" else ""
        raise RunFolderError(f"{run.path} is a {task} run; explain looks inside the CNNs of "
                             f"{', '.join(LOADERS)} runs{hint}")
    if not run.best_checkpoint.is_file():
        raise RunFolderError(f"{run.path} has no trained model yet ({run.best_checkpoint} is missing)")
    trained = LOADERS[task](run.path)
    trained.model.to(resolve_device(device)).eval()
    return trained
