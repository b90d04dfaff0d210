"""The training options every task that trains through the engine shares, declared once: their flags, help,
the real defaults (FitConfig's, or a task's own) and their choices, which the parser checks.

    @app.command("train")
    @training_options("epochs", "lr", "seed", defaults={"epochs": 5})
    def train(..., train_options: dict) -> None:   # {"epochs": 5, "lr": 0.001, "seed": 0} as given

No torch here: the command line builds its help from this module alone."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Iterable
from dataclasses import fields
from enum import Enum

import typer

from cnnlab.train.config import OPTIMIZERS, PRECISIONS, SCHEDULES, FitConfig

HELP = {
    "epochs": "epochs to train",
    "batch_size": "images per optimizer step (all ranks together)",
    "optimizer": "the optimizer",
    "lr": "base learning rate",
    "momentum": "SGD momentum",
    "nesterov": "SGD with Nesterov momentum",
    "weight_decay": "weight decay (default: the model's own; densenet-seed: the seed's L2)",
    "schedule": "learning-rate schedule, per optimizer step",
    "warmup_epochs": "linear learning-rate warm-up, in epochs",
    "label_smoothing": "label smoothing of the classification loss",
    "precision": "auto: bf16 on CUDA and on CPUs with native bf16 (AVX512-BF16, AMX), else fp32",
    "patience": "early stopping after N epochs without a better validation loss",
    "grad_clip": "clip the gradient norm to this",
    "seed": "random seed of the split, the initialisation and the batches",
    "device": "auto, cpu, cuda, cuda:N or mps",
    "max_seconds": "time budget in training seconds: the run stops when it is spent, also mid-epoch",
    "ema": "validate and keep an exponential moving average of the weights with this decay, e.g. 0.99",
    "tta": "validate and test on each image and its mirror",
    "compile": "torch.compile the model (its one-off cost is reported apart from training time)",
    "channels_last": "NHWC memory layout for convolutions: auto (on CUDA and CPU), on or off",
    "tensorboard": "also write TensorBoard events to RUN/tensorboard (needs the tensorboard package)",
}
CHOICES = {"optimizer": OPTIMIZERS, "schedule": SCHEDULES, "precision": PRECISIONS,
           "channels_last": ("auto", "on", "off")}
ENUMS = {name: Enum(name.title().replace("_", ""), {c: c for c in choices}, type=str)
         for name, choices in CHOICES.items()}
DEFAULTS = {f.name: f.default for f in fields(FitConfig) if f.name in HELP}
TYPES = {name: hint for name, hint in typing.get_type_hints(FitConfig).items() if name in HELP}


def shown(value: object) -> str:
    return "none" if value is None else ("yes" if value is True else "no" if value is False else str(value))


def option(name: str, default: object = ..., *, unset: bool = False, note: str = "",
           help_text: str = "") -> inspect.Parameter:
    """The command-line parameter of one training option. `unset`: the parser gives None (the command fills
    the value in, e.g. from a recipe) and the help names the default; `help_text` replaces the shared help."""
    value = DEFAULTS[name] if default is ... else default
    kind = ENUMS.get(name, TYPES[name])
    help_text = (help_text or HELP[name]) + (f" (default: {shown(value)}{'; ' + note if note else ''})" if unset else
                              f" ({note})" if note else "")
    if unset:
        parsed = None
    elif name in ENUMS:
        parsed = ENUMS[name](value)
    else:
        parsed = value
    flag = f"--{name.replace('_', '-')}"
    info = typer.Option(parsed, f"{flag}/--no-{flag[2:]}" if TYPES[name] is bool else flag, help=help_text,
                        show_default=not unset and value is not None)
    if name in ENUMS or TYPES[name] is bool:
        kind = typing.Optional[kind] if unset else kind  # noqa: UP045 (typer reads Optional, not X | None)
    return inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=info, annotation=kind)


def training_options(*names: str, defaults: dict | None = None, unset: Iterable[str] = (),
                     notes: dict[str, str] | None = None, helps: dict[str, str] | None = None) -> Callable:
    """Add the shared training options `names` to a typer command, which receives them as `train_options`
    (a dict of plain values). `defaults` overrides FitConfig's for this task; `unset` and `notes` as in
    `option`. The options go after the command's own and before --name/--runs-dir/--resume/--overwrite."""
    unknown = set(names) - set(HELP)
    if unknown:
        raise ValueError(f"no shared training options {sorted(unknown)}")
    defaults, unset, notes = defaults or {}, set(unset), notes or {}

    def decorate(command: Callable) -> Callable:
        signature = inspect.signature(command, eval_str=True)
        own = [p for p in signature.parameters.values() if p.name != "train_options"]
        split = next((i for i, p in enumerate(own) if p.name in ("name", "runs_dir", "resume", "overwrite")), len(own))
        added = [option(n, defaults.get(n, ...), unset=n in unset, note=notes.get(n, ""),
                        help_text=(helps or {}).get(n, "")) for n in names]

        @functools.wraps(command)
        def wrapper(*args, **kwargs):
            given = {n: kwargs.pop(n) for n in names}
            given = {k: v.value if isinstance(v, Enum) else v for k, v in given.items()}
            return command(*args, train_options=given, **kwargs)

        parameters = [*own[:split], *added, *own[split:]]
        wrapper.__signature__ = signature.replace(parameters=parameters)
        wrapper.__annotations__ = {p.name: p.annotation for p in parameters if p.annotation is not p.empty}
        del wrapper.__wrapped__  # typer reads the signature and annotations above, not the command's
        return wrapper

    return decorate
