"""`cnnlab models ...`: list the zoo, summarise a model."""

from __future__ import annotations

import typer
from rich.table import Table

from cnnlab.checks import check_number, parse_hwc
from cnnlab.console import console
from cnnlab.errors import CnnlabError

app = typer.Typer(no_args_is_help=True)


# Backbones people commonly fine-tune; `models list --pretrained` says where each one's weights are.
COMMON_BACKBONES = ("efficientnet_lite0", "mobilenetv2_100", "resnet18", "resnet34", "resnet50", "efficientnet_b0",
                    "convnext_tiny")


@app.command("list")
def list_models(pretrained: bool = typer.Option(False, "--pretrained",
                                                help="show which backbones have weights here, and from where")) -> None:
    """The zoo's networks (any timm model is also available as timm:NAME)."""
    from cnnlab.models.registry import load_zoo

    if pretrained:
        list_pretrained()
        return
    table = Table("name", "usual size", "what")
    zoo = load_zoo()
    for name in zoo:
        entry = zoo.get(name)
        table.add_row(name, str(entry.default_size), entry.description)
    table.add_row("timm:NAME", "timm's", "any timm architecture, e.g. timm:resnet18, timm:efficientnet_lite0")
    console.print(table)


def parse_input(text: str) -> tuple[int, int, int]:
    """'32x32x3' -> (3, 32, 32): read as HEIGHTxWIDTHxCHANNELS, as `explain layer` reads it; returned in the
    network's order (channels, height, width). The order this command took before (3x32x32) is refused with the
    spelling to use, never taken as 3 rows of 32 channels."""
    h, w, c = parse_hwc(text)
    if h in (1, 3) and w == c and c not in (1, 3):
        raise CnnlabError(f"--input is HEIGHTxWIDTHxCHANNELS (as in cnnlab explain layer): pass {w}x{c}x{h} for a "
                          f"{w}x{c} image of {h} channel{'s' if h > 1 else ''}, not {text!r}")
    if h != w:
        raise CnnlabError(f"models take square images; got {h}x{w}")
    if c not in (1, 3) or not 1 <= h <= 4096:
        raise CnnlabError(f"--input takes 1 or 3 channels and a side of 1 to 4096 pixels, got {text!r}")
    return c, h, w


@app.command("summary")
def summary(name: str = typer.Argument(..., help="a zoo name or timm:NAME"),
            input: str = typer.Option("32x32x3", "--input", help="HEIGHTxWIDTHxCHANNELS of the network's input"),
            classes: int = typer.Option(10, "--classes"),
            batch: int = typer.Option(32, "--batch-size", "--batch", help="batch size for the per-batch memory")
            ) -> None:
    """Layers, output shapes, parameters, multiply-adds and feature-map memory."""
    from cnnlab.models.factory import create_model
    from cnnlab.models.summary import human, human_bytes, summarize

    c, h, _ = parse_input(input)
    check_number("batch", batch, low=1, integer=True)
    check_number("classes", classes, low=1, integer=True)
    model = create_model(name, c, classes, h)
    s = summarize(model, (c, h, h), batch)
    table = Table("layer", "type", "output (C, H, W)", "params", "mult-adds", title=f"{name} on a {h}x{h}x{c} input")
    for row in s.rows:
        table.add_row(row.name, row.kind, str(row.output_shape), f"{row.params:,}", human(row.macs))
    console.print(table)
    console.print(f"parameters: {s.params:,} ({s.trainable_params:,} trainable, {human_bytes(s.param_bytes)} fp32)")
    console.print(f"multiply-adds: {human(s.macs_per_image)} per image, {human(s.macs_per_image * batch)} per "
                  f"batch of {batch}")
    console.print(f"feature maps: {human_bytes(s.activation_bytes_per_image)} per image, "
                  f"{human_bytes(s.activation_bytes_per_batch)} per batch of {batch} (fp32, kept for backward)")


def list_pretrained() -> None:
    import os
    from pathlib import Path

    from cnnlab.models.pretrained import WEIGHT_SUFFIXES, local_weight_source, network_reachable

    names = list(COMMON_BACKBONES)
    folder = os.environ.get("CNNLAB_WEIGHTS")
    if folder and Path(folder).expanduser().is_dir():
        found = {p.stem for p in Path(folder).expanduser().iterdir() if p.suffix in WEIGHT_SUFFIXES}
        names += sorted(found - set(names))
    online = network_reachable()
    table = Table("model", "weights", title="pretrained backbones")
    for arch in names:
        source = local_weight_source(arch)
        where = source.describe() if source else ("model hub (network reachable)" if online else "none here")
        table.add_row(f"timm:{arch}", where)
    console.print(table)
    if not folder:
        console.print("Set CNNLAB_WEIGHTS to a folder of <arch>.pth / .safetensors files to add your own.")
