"""Train a localizer into a run folder: a stored seeded split, frozen-then-fine-tuned phases, a grid of validation
boxes after every epoch, then the test split judged and the report written."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from cnnlab.data.boxes import read_boxes
from cnnlab.data.boxes.augment import NO_AUGMENT
from cnnlab.data.boxes.tensors import BoxData, BoxLoader, box_tensors, digit_canvas
from cnnlab.data.leaks import leak_note, leaked_held_out
from cnnlab.errors import DataError, RunFolderError
from cnnlab.localize.config import LocalizeConfig
from cnnlab.localize.draw import box_grid
from cnnlab.localize.evaluate import baseline_iou, evaluate_boxes, predict_all
from cnnlab.localize.model import Localizer, create_localizer
from cnnlab.localize.report import write_report
from cnnlab.localize.steps import localize_step
from cnnlab.models import count_parameters
from cnnlab.options import said
from cnnlab.train import FitState, RunDir, Task, fit, resolve_device, seed_everything
from cnnlab.train.run import start_run

MIN_IMAGES = 4  # two to train on (BatchNorm needs a pair), one to validate, one to test
SHOWN = 8  # validation images in each epoch's grid
SPLITS = ("train", "val", "test")


def load_box_data(cfg: LocalizeConfig, log=print, classes: list[str] | None = None
                  ) -> tuple[BoxData, list[tuple[str, str]]]:
    """The run's boxed images as tensors, and the images left out (no boxes), which the log counts."""
    if cfg.data in ("digits", "digits-multi"):
        objects = 3 if cfg.data == "digits-multi" else 1
        return replace(digit_canvas(cfg.image_size, 600, seed=cfg.seed, objects=objects), resize=cfg.resize), []
    boxes = read_boxes(cfg.data, label=cfg.label, attribute=cfg.attribute)
    for note in boxes.notes:
        log(note)
    if boxes.left_out:
        shown = ", ".join(Path(p).name for p, _ in boxes.left_out[:5])
        log(f"{len(boxes.left_out)} images have no boxes and were left out (e.g. {shown}); all are listed in "
            "left_out.json")
    return box_tensors(boxes, cfg.image_size, classes=classes, resize=cfg.resize), boxes.left_out


def split_paths(data: BoxData, cfg: LocalizeConfig) -> dict[str, list[str]]:
    """A seeded split of the images into train, val and test, by path (stored in the run as splits.json)."""
    parts = split_rows(len(data), cfg.seed, cfg.val_fraction, cfg.test_fraction, cfg.data)
    return {k: [data.paths[i] for i in v] for k, v in parts.items()}


def split_rows(n: int, seed: int, val_fraction: float, test_fraction: float, source: str) -> dict[str, list[int]]:
    """The rows of `n` boxed images in each split, seeded; DataError when too few are left to train on."""
    order = np.random.default_rng(seed).permutation(n)
    test = round(n * test_fraction) if test_fraction else 0
    val = max(1, round(n * val_fraction))
    if n - test - val < 2:
        raise DataError(f"{source} has {n} boxed images: too few to train on after taking {val} for validation "
                        f"and {test} for testing; at least {MIN_IMAGES} are needed")
    parts = {"test": order[:test], "val": order[test:test + val], "train": order[test + val:]}
    return {k: sorted(int(i) for i in v) for k, v in parts.items()}


def without_leaks(data: BoxData, splits: dict[str, list[str]]) -> dict:
    """`splits` without the validation and test images that duplicate a training image, and how many left."""
    parts = split_data(data, splits)
    leaked = dict(zip(SPLITS[1:], leaked_held_out([parts[k].images for k in SPLITS]), strict=True))
    kept = {k: [p for j, p in enumerate(splits[k]) if j not in rows] for k, rows in leaked.items()}
    if not kept["val"]:
        raise DataError(f"--drop-leaks would leave no validation image: all {len(splits['val'])} duplicate a "
                        "training image")
    return {"train": splits["train"], **kept, "leaks_dropped": {k: len(rows) for k, rows in leaked.items()}}


def split_data(data: BoxData, splits: dict[str, list[str]]) -> dict[str, BoxData]:
    """The stored split applied to `data`; RunFolderError naming images of the split that are gone."""
    where = {p: i for i, p in enumerate(data.paths)}
    gone = [p for k in SPLITS for p in splits.get(k, []) if p not in where]
    if gone:
        raise RunFolderError(f"{len(gone)} images of the run's splits.json are no longer in the data (e.g. "
                             f"{', '.join(gone[:3])}); restore them, or train a new run")
    return {k: data.subset([where[p] for p in splits.get(k, [])]) for k in SPLITS}


def localizer_task(cfg: LocalizeConfig, classes: list[str], parts: dict[str, BoxData], device) -> Task:
    """The engine's task for `cfg` on the split `parts` (localizer, step, loaders)."""
    train = parts["train"]
    model = create_localizer(cfg.model, cfg.head, len(classes), in_channels=train.images.shape[1],
                             image_size=cfg.image_size, pretrained=cfg.pretrained, weights=cfg.weights).to(device)
    return Task("localize", model, localize_step(cfg.head, cfg.box_loss, cfg.cls_weight, cfg.box_weight),
                BoxLoader(train, cfg.batch_size, shuffle=True, augment=cfg.augment if cfg.augment.enabled
                          else NO_AUGMENT, seed=cfg.seed, device=device),
                BoxLoader(parts["val"], 64, device=device), config=cfg.to_dict())


def train_localizer(cfg: LocalizeConfig, *, resume: bool = False, overwrite: bool = False, callbacks=(),
                    given: set[str] | None = None, aliases: dict[str, tuple[str, ...]] | None = None) -> dict:
    """Train `cfg` into its run folder; returns the summary (test mean IoU, acc@0.5, class accuracy, mAP)."""
    if not resume and cfg.weights is not None and not Path(cfg.weights).expanduser().is_file():
        raise DataError(f"{said('weights')} {cfg.weights} is not a file")
    run, cfg, checkpoint = start_run(cfg, LocalizeConfig.from_dict, resume=resume, overwrite=overwrite, given=given,
                                     aliases=aliases, extendable=("finetune_epochs",))
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed)
    data, left_out = load_box_data(cfg, run.log)
    run.write_json("left_out.json", [{"path": p, "why": w} for p, w in left_out])
    if len(data) < MIN_IMAGES:
        raise DataError(f"{cfg.data} has {len(data)} boxed image(s); at least {MIN_IMAGES} are needed")
    if checkpoint is None:  # splits.json records the splits as trained on: --drop-leaks runs once
        splits = split_paths(data, cfg)
        run.write_json("splits.json", without_leaks(data, splits) if cfg.drop_leaks else splits)
    splits = run.read_json("splits.json")
    if splits.get("leaks_dropped"):
        run.log(leak_note(splits["leaks_dropped"]), style="yellow")
    parts = split_data(data, splits)
    task = localizer_task(cfg, data.classes, parts, device)
    model = task.model
    for note in model.notes:
        run.log(note, style="cyan")
    run.log(f"{cfg.head} head on {cfg.model}: {len(parts['train'])} train / {len(parts['val'])} val / "
            f"{len(parts['test'])} test images, classes {data.classes}, {count_parameters(model):,} parameters, "
            f"feature grid {model.spec.grid}x{model.spec.grid}, images {cfg.resize}ed to {cfg.image_size} px, "
            f"device {device}")
    shown = parts["val"].subset(range(min(SHOWN, len(parts["val"]))))
    state = fit(task, cfg.fit_config(), device=device, run=run, checkpoint=checkpoint,
                extra={"spec": model.spec.to_dict(), "classes": data.classes},
                callbacks=(epoch_grid(run, model, shown, device), *callbacks))
    if state.status not in ("finished", "early-stopped", "budget-spent"):
        return {"status": state.status}
    return finish(run, cfg, model, parts, state, device, splits.get("leaks_dropped", {}))


def epoch_grid(run: RunDir, model: Localizer, shown: BoxData, device):
    """A callback saving true (green) and predicted (red) boxes of fixed validation images after every epoch."""
    def save(epoch: int, record: dict) -> None:
        preds = predict_all(model, shown, device)
        box_grid(shown.images, shown.targets, preds, shown.classes, run.path / "epochs" / f"epoch_{epoch:03d}.png")

    return save


def finish(run: RunDir, cfg: LocalizeConfig, model: Localizer, parts: dict[str, BoxData], state: FitState,
           device, leaks_dropped: dict[str, int] | None = None) -> dict:
    """Judge the best checkpoint on the test split (the validation split when there is none), write the summary,
    the per-image results, the worst predictions and the report."""
    model.load_state_dict(run.load_checkpoint(best=True)["model"])
    judged = "test" if len(parts["test"]) else "val"
    result = evaluate_boxes(model, parts[judged], device)
    history = state.history
    summary = {"status": state.status, "head": cfg.head, "model": cfg.model, "data": cfg.data,
               "classes": parts["train"].classes, "box_loss": cfg.box_loss, "resize": cfg.resize, "judged_on": judged,
               "images": {k: len(v) for k, v in parts.items()}, "epochs": len(history),
               "train_seconds": sum(r["seconds"] for r in history),
               "seconds_per_epoch": sum(r["seconds"] for r in history) / max(len(history), 1),
               "best_epoch": state.best_epoch, **{k: result[k] for k in ("mean_iou", "acc50", "class_acc", "map50",
                                                                         "map")},
               "baseline_mean_iou": baseline_iou(parts["train"], parts[judged]), "notes": model.notes,
               **({"leaks_dropped": leaks_dropped or {}} if cfg.drop_leaks else {})}
    run.write_json("summary.json", summary)
    run.write_json("test_predictions.json", result["per_image"])
    worst = sorted(range(len(result["per_image"])), key=lambda i: result["per_image"][i]["iou"])[:SHOWN]
    subset = parts[judged].subset(worst)
    box_grid(subset.images, subset.targets, [result["predictions"][i] for i in worst], subset.classes,
             run.path / "worst.png")
    write_report(run)
    run.log(f"{judged}: mean IoU {summary['mean_iou']:.3f} (mean box {summary['baseline_mean_iou']:.3f}), acc@0.5 "
            f"{summary['acc50']:.1%}, class accuracy {summary['class_acc']:.1%}, mAP@0.5 {summary['map50']:.3f}, "
            f"mAP@0.5:0.95 {summary['map']:.3f}; report: {run.path / 'report.html'}", style="bold green")
    return summary
