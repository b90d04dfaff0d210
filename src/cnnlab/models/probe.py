"""Looking at a network's insides with forward hooks, for any CNN (zoo, timm, pretrained backbones): the outputs
of its convolutions grouped into stages, the layer Grad-CAM reads, and each stage's receptive field."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Stage:
    """The last convolution of a run of convolutions that keep one spatial size."""

    name: str  # the module's name inside the network
    shape: tuple[int, int, int]  # its output per image (C, H, W)
    convs: int  # convolutions in the stage


class _Stop(Exception):  # noqa: N818 (not an error: ends a forward pass early)
    pass


def record_outputs(network: nn.Module, run: Callable[[], object], keep: Callable[[nn.Module], bool],
                   stop_after: str | None = None, copy_outputs: bool = False
                   ) -> list[tuple[str, nn.Module, torch.Tensor]]:
    """(name, module, output) of every module of `network` that `keep` accepts, in the order they finish while
    `run()` runs; with `stop_after`, the forward pass ends once that module has put out its result. With
    `copy_outputs`, copies of the outputs (an in-place activation after a layer changes the layer's own)."""
    seen: list[tuple[str, nn.Module, torch.Tensor]] = []

    def hook(name: str):
        def save(module, inputs, output) -> None:
            if isinstance(output, torch.Tensor):
                seen.append((name, module, output.clone() if copy_outputs else output))
            if name == stop_after:
                raise _Stop

        return save

    handles = [m.register_forward_hook(hook(n)) for n, m in network.named_modules() if n and keep(m)]
    try:
        run()
    except _Stop:
        pass
    finally:
        for handle in handles:
            handle.remove()
    return seen


def is_conv(module: nn.Module) -> bool:
    return isinstance(module, nn.Conv2d)


def conv_stages(network: nn.Module, run: Callable[[], object]) -> tuple[list[Stage], dict[str, torch.Tensor]]:
    """The stages of `network` while `run()` feeds it one image, and each stage's convolution output (1, C, H, W),
    before any activation."""
    outputs = [(n, o) for n, _, o in record_outputs(network, run, is_conv, copy_outputs=True) if o.dim() == 4]
    stages: list[Stage] = []
    maps: dict[str, torch.Tensor] = {}
    for name, out in outputs:
        count = 1
        if stages and stages[-1].shape[1:] == tuple(out.shape[2:]):
            count += stages.pop().convs
        stages.append(Stage(name, tuple(out.shape[1:]), count))
        maps[name] = out.detach()
    return stages, {s.name: maps[s.name] for s in stages}


def cam_layer(network: nn.Module, run: Callable[[], object]) -> tuple[str, nn.Module]:
    """The layer Grad-CAM reads: the last module to put out spatial feature maps (N, C, H, W) with H x W > 1
    before the pooling and the head, among modules called once per forward pass (the last one with 1x1 maps
    when every map is 1x1)."""
    calls: dict[int, int] = {}
    found = []
    for name, module, out in record_outputs(network, run, lambda m: True):
        calls[id(module)] = calls.get(id(module), 0) + 1
        if out.dim() == 4:
            found.append((name, module, out.shape[2] * out.shape[3] > 1))
    once = [(n, m, wide) for n, m, wide in found if calls[id(m)] == 1]
    if not once:
        raise ValueError("the network puts out no feature maps (N, C, H, W): it is not a CNN")
    wide = [(n, m) for n, m, w in once if w]
    return wide[-1] if wide else once[-1][:2]


def receptive_fields(network: nn.Module, names: list[str], channels: int, size: int
                     ) -> dict[str, tuple[int | None, int | None]]:
    """(side of the receptive field, stride) in input pixels of each named module's output.

    The field is that of the centre unit, measured as the input pixels its gradient reaches, on a copy of the
    network whose convolutions average positive weights, whose BatchNorms pass values through and whose max pools
    average (so no ReLU, max pool or dead unit hides a pixel); on a `size` x `size` input, a field that reaches
    both borders is larger than that and reported as None. The stride, how far the field moves from one unit to
    the next, is how many input pixels one more output position takes."""
    probe = _averaging_copy(network)
    x = (0.5 + torch.rand(1, channels, size, size, dtype=torch.float64)).requires_grad_(True)
    last = names[-1] if names else None
    outputs = {n: o for n, _, o in record_outputs(probe, lambda: probe(x), lambda m: True, stop_after=last)
               if n in names}
    jumps = _strides(network, names, channels, size)
    fields: dict[str, tuple[int | None, int | None]] = {}
    for name in names:
        out = outputs.get(name)
        field = None
        if out is not None and out.dim() == 4:
            (grad,) = torch.autograd.grad(out[0, :, out.shape[2] // 2, out.shape[3] // 2].sum(), x, retain_graph=True)
            seen = grad[0].abs().sum(0)  # (H, W): the input pixels the centre unit sees
            rows, cols = torch.nonzero(seen.sum(1)).flatten(), torch.nonzero(seen.sum(0)).flatten()
            edge = size - 1
            touches = len(rows) == 0 or (rows[0] == 0 and rows[-1] == edge) or (cols[0] == 0 and cols[-1] == edge)
            field = None if touches else int(max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1)
        fields[name] = (field, jumps.get(name))
    return fields


def _strides(network: nn.Module, names: list[str], channels: int, size: int, more: int = 64) -> dict[str, int]:
    """Input pixels per output position of each named module: an input `more` pixels wider widens its output by
    more / stride positions (two forward passes)."""
    widths = []
    was = network.training
    network.eval()
    try:
        for side in (size, size + more):
            x = torch.zeros(1, channels, side, side, dtype=next(network.parameters()).dtype,
                            device=next(network.parameters()).device)
            with torch.no_grad():
                seen = record_outputs(network, lambda x=x: network(x), lambda m: True, stop_after=names[-1])
            widths.append({n: o.shape[-1] for n, _, o in seen if n in names and o.dim() == 4})
    except (RuntimeError, ValueError):  # a network that takes one input size only
        return {}
    finally:
        network.train(was)
    grown = {n: widths[1][n] - widths[0][n] for n in widths[0] if n in widths[1]}
    return {n: more // g for n, g in grown.items() if g > 0 and more % g == 0}


def _averaging_copy(network: nn.Module) -> nn.Module:
    probe = copy.deepcopy(network).double().eval()
    generator = torch.Generator().manual_seed(0)
    for module in probe.modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            fan_in = module.weight[0].numel()
            with torch.no_grad():
                module.weight.copy_((0.5 + torch.rand(module.weight.shape, generator=generator)) / fan_in)
                if module.bias is not None:
                    module.bias.zero_()
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_parameters()  # mean 0, variance 1, scale 1, shift 0: values pass through
    for parent in list(probe.modules()):
        for child_name, child in parent.named_children():
            if isinstance(child, nn.MaxPool2d):
                setattr(parent, child_name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding,
                                                         ceil_mode=child.ceil_mode))
    for p in probe.parameters():
        p.requires_grad_(False)
    return probe
