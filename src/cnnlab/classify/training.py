"""Train one classifier into a run folder, then evaluate it on the test split and write its report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from cnnlab.classify.config import ClassifyConfig
from cnnlab.classify.evaluate import class_logits, evaluate_model
from cnnlab.classify.report import write_report
from cnnlab.data.datasets import load_run_dataset
from cnnlab.data.images import DataSplits
from cnnlab.data.loader import BatchLoader
from cnnlab.models import count_parameters, model_entry
from cnnlab.models.factory import model_for_images
from cnnlab.report.overfit import overfitting_verdict
from cnnlab.train import FitState, RunDir, StepResult, Task, distributed, fit, resolve_device, seed_everything
from cnnlab.train.balance import class_weights
from cnnlab.train.run import start_run

# Options whose config keys are not named like them (the rest match by name).
RESUME_ALIASES = {"model_arg": ("model_args",), "data": ("data.name",), "data_dir": ("data.root",),
                  "freeze_epochs": ("fit.phases",), "finetune_epochs": ("fit.phases",), "freeze_lr": ("fit.phases",),
                  "finetune_lr": ("fit.phases",), "backbone_lr_scale": ("fit.phases",),
                  "finetune_bn_stats": ("fit.phases",),
                  "recipe": ("model", "fit.batch_size", "fit.optimizer", "fit.lr", "fit.schedule", "fit.ema")}


@dataclass
class TrainResult:
    run: RunDir
    state: FitState
    summary: dict


def classification_step(label_smoothing: float = 0.0, tta: bool = False, weight: torch.Tensor | None = None):
    """Cross-entropy and accuracy; with `tta`, evaluation averages the logits of each image and its mirror;
    `weight` (K,): each class's weight in the training loss (the validation loss stays unweighted)."""

    def step(model, x: torch.Tensor, y: torch.Tensor) -> StepResult:
        logits = class_logits(model, x, tta and not model.training)  # (B, K)
        w = weight.to(logits.device) if weight is not None and model.training else None
        loss = F.cross_entropy(logits, y, weight=w, label_smoothing=label_smoothing)
        return StepResult(loss, {"acc": (logits.argmax(1) == y).sum()}, len(y))

    return step


def prepare(cfg: ClassifyConfig, data: DataSplits):
    """The model for `cfg` on `data`, with the training set's normalisation."""
    return model_for_images(cfg.model, data.train.images, len(data.classes), pretrained=cfg.pretrained,
                            weights=cfg.weights, input_size=cfg.input_size, **cfg.model_args)


def classifier_task(cfg: ClassifyConfig, data: DataSplits, device: torch.device, ranks=None
                    ) -> tuple[Task, torch.nn.Module, list[tuple[str, str | None]]]:
    """The engine's task for `cfg` on `data` (model, step, loaders), and what to say about it as (line, style)."""
    ranks = ranks or distributed.current()
    model = prepare(cfg, data).to(device)
    say = [(note, "cyan") for note in model.notes]
    say.append((f"{cfg.model} on {cfg.data.name}: {len(data.train)} train / {len(data.val)} val / {len(data.test)} "
                f"test images of {data.train.channels}x{data.train.size[0]}x{data.train.size[1]}, "
                f"{len(data.classes)} classes, {count_parameters(model):,} parameters, device {device}", None))
    if ranks.enabled:
        say.append((f"data-parallel over {ranks.world} ranks: {len(data.train) // ranks.world} training images and "
                    f"{cfg.fit.batch_size // ranks.world} a step on each (global batch {cfg.fit.batch_size})", None))
    train_loader = BatchLoader(data.train, cfg.fit.batch_size, shuffle=True, augment=cfg.augment,
                               seed=cfg.fit.seed, device=device, rank=ranks.rank, world=ranks.world,
                               drop_last=cfg.fit.compile and device.type == "cuda",  # no recompile mid-epoch
                               balanced=cfg.sampler == "balanced")
    weight = class_weights(data.train.labels, len(data.classes)) if cfg.class_weights == "auto" else None
    if weight is not None or cfg.sampler == "balanced":
        counts = torch.bincount(data.train.labels, minlength=len(data.classes)).tolist()
        ways = ([f"loss weights {weight.min():.2f} to {weight.max():.2f}"] if weight is not None else []) + (
            ["class-balanced sampling"] if cfg.sampler == "balanced" else [])
        say.append((f"unequal classes: training counts {min(counts)} to {max(counts)} a class; {'; '.join(ways)}",
                    "cyan"))
    val_loader = BatchLoader(data.val, 512, device=device, rank=ranks.rank, world=ranks.world)
    task = Task("classify", model, classification_step(cfg.fit.label_smoothing, cfg.fit.tta, weight), train_loader,
                val_loader, config=cfg.to_dict(),
                default_weight_decay=model_entry(cfg.model).defaults.get("weight_decay", 0.0))
    return task, model, say


def train_classifier(cfg: ClassifyConfig, *, resume: bool = False, overwrite: bool = False,
                     callbacks: tuple[Callable[[int, dict], None], ...] = (),
                     given: set[str] | None = None) -> TrainResult:
    """Train `cfg` into its run folder. With resume, the folder's own config.json is used; the options named
    in `given` must agree with it (--epochs may grow, see cnnlab.train.resume)."""
    ranks = distributed.setup(cfg.fit.device)
    run, cfg, checkpoint = start_run(cfg, ClassifyConfig.from_dict, resume=resume, overwrite=overwrite,
                                     given=given, aliases=RESUME_ALIASES)
    if checkpoint is not None:
        run.log(f"resuming {run.path} after epoch {checkpoint['epoch']}")
    device = distributed.device_for(ranks, resolve_device(cfg.fit.device))
    seed_everything(cfg.fit.seed)
    data = load_run_dataset(run, cfg.data)
    for path, reason in data.skipped:
        run.log(f"skipped unreadable image {path}: {reason}", style="yellow")
    for note in data.notes:
        run.log(note, style="yellow")
    task, model, say = classifier_task(cfg, data, device, ranks)
    for line, style in say:
        run.log(line, style=style)
    extra = {"spec": model.spec.to_dict(), "classes": data.classes}
    state = fit(task, cfg.fit, device=device, run=run, checkpoint=checkpoint, extra=extra, callbacks=callbacks)
    summary = {"status": state.status}
    if state.status in ("finished", "early-stopped", "budget-spent") and ranks.main:
        summary = finish(run, cfg, model, data, state, device)
    distributed.barrier()
    distributed.teardown(ranks)
    return TrainResult(run, state, summary)


def finish(run: RunDir, cfg: ClassifyConfig, model, data: DataSplits, state: FitState, device) -> dict:
    """Evaluate the best checkpoint on the test split, then write summary.json, plots and report.html."""
    model.load_state_dict(run.load_checkpoint(best=True)["model"])
    test = evaluate_model(model, data.test, device=device, precision=cfg.fit.precision,
                          channels_last=cfg.fit.channels_last, tta=cfg.fit.tta)
    history = state.history
    summary = {
        "status": state.status, "model": cfg.model, "data": cfg.data.name,
        "params": count_parameters(model), "trainable_params": count_parameters(model, trainable_only=True),
        "epochs": len(history), "train_seconds": sum(r["seconds"] for r in history),
        "compile_seconds": state.compile_seconds,
        "seconds_per_epoch": sum(r["seconds"] for r in history) / max(len(history), 1),
        "best_epoch": state.best_epoch, "best_val_acc": max(r["val_acc"] for r in history),
        "final_val_acc": history[-1]["val_acc"], "final_train_acc": history[-1]["train_acc"],
        "test_acc": test["acc"], "test_loss": test["loss"], "test_balanced_acc": test["balanced_acc"],
        "test_macro_f1": test["macro_f1"], "test_per_class": test["per_class"], "augment": cfg.augment.enabled,
        "skipped": [{"path": p, "reason": r} for p, r in data.skipped],
        "leaks_dropped": data.leaks_dropped,
        "overfitting": overfitting_verdict(history).to_dict(),
        "notes": model.notes,
    }
    run.write_json("summary.json", summary)
    run.write_json("confusion.json", {"classes": data.classes, "matrix": test["confusion"].tolist()})
    write_report(run, model=model, test=data.test)
    run.log(f"test accuracy {test['acc']:.2%}, balanced accuracy {test['balanced_acc']:.2%} (best epoch "
            f"{state.best_epoch}); report: {run.path / 'report.html'}", style="bold green")
    return summary
