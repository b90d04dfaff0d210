"""`cnnlab classify ...` and `cnnlab quickstart`: options map one to one onto ClassifyConfig's fields."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from cnnlab.checks import check_number
from cnnlab.classify.config import (
    FINETUNE_LR,
    FREEZE_LR,
    RECIPE_FIT,
    RECIPES,
    ClassifyConfig,
    transfer_phases,
)
from cnnlab.cliutil import add_lr_find, data_options, exit_for, fresh_path, print_table
from cnnlab.console import console
from cnnlab.data.augment_spec import parse_augment
from cnnlab.data.config import DataConfig, default_image_size
from cnnlab.errors import CnnlabError
from cnnlab.options import Options
from cnnlab.train.config import FitConfig
from cnnlab.train.options import HELP as TRAINING_OPTIONS
from cnnlab.train.options import shown, training_options

app = typer.Typer(no_args_is_help=True)

DATA, DATA_DIR, IMAGE_SIZE = data_options("digits")


FAST = RECIPES["fast"]


@app.command("train")
@training_options(*TRAINING_OPTIONS, unset=RECIPE_FIT, notes={k: f"fast recipe: {shown(FAST[k])}" for k in RECIPE_FIT
                                                             if FAST[k] != getattr(FitConfig(), k)})
def train(
    ctx: typer.Context, data: str = DATA, data_dir: str = DATA_DIR, image_size: int = IMAGE_SIZE,
    channels: int = typer.Option(None, "--channels", help="convert images to 1 or 3 channels"),
    val_fraction: float = typer.Option(0.1, help="share of the training set held out for validation"),
    train_per_class: int = typer.Option(None, help="keep only N training images per class"),
    drop_leaks: bool = typer.Option(False, help="leave out validation and test images that duplicate a training "
                                    "image (exact or near, as `cnnlab data audit` finds them)"),
    recipe: str = typer.Option("default", help="default, or fast (the GPU speed recipe: airnet, batch 1024, AdamW "
                               "with a one-cycle schedule, label smoothing, weight average, flip TTA); options "
                               "given win"),
    model: str = typer.Option(None, "--model", help="a zoo name (cnnlab models list) or timm:NAME (default: "
                              "baseline-cnn; fast recipe: airnet)"),
    model_arg: list[str] = typer.Option([], "--model-arg", help="builder keyword KEY=VALUE, repeatable"),
    pretrained: bool = typer.Option(False, help="start from ImageNet weights (cnnlab models list --pretrained)"),
    weights: str = typer.Option(None, help="a weights file to start from (state dict or checkpoint)"),
    input_size: int = typer.Option(None, help="side the network takes (default: the weights' or the images')"),
    freeze_epochs: int = typer.Option(None, help="phase 1: epochs training only the head on a frozen backbone "
                                      "(default: 0; with --epochs: --epochs minus --finetune-epochs)"),
    finetune_epochs: int = typer.Option(None, help="phase 2: epochs fine-tuning everything (default: 0; with "
                                        "--epochs: the rest)"),
    freeze_lr: float = typer.Option(FREEZE_LR, help="phase 1 learning rate (SGD, momentum 0.9; the lecture's: 0.2)"),
    finetune_lr: float = typer.Option(FINETUNE_LR, help="phase 2 learning rate (SGD, momentum 0.9, Nesterov; the "
                                      "lecture's: 0.01)"),
    backbone_lr_scale: float = typer.Option(1.0, help="phase 2: backbone lr = finetune lr * this"),
    finetune_bn_stats: bool = typer.Option(None, help="phase 2: let BatchNorm update its statistics (default: "
                                           "only when not starting from pretrained weights)"),
    augment: str = typer.Option(None, "--augment", help="none, standard, all, fast, or e.g. hflip,rotation=15,"
                                "translate=2,cutout=8 (default: none; fast recipe: fast)"),
    class_weights: str = typer.Option("none", help="auto: weight each class in the loss by N / (K * its count), "
                                      "for unequal classes; none"),
    sampler: str = typer.Option("shuffle", help="balanced: draw training images so every class is seen equally "
                                "often; shuffle: each image once an epoch"),
    name: str = typer.Option(None, help="run name (default <model>-<data>)"),
    runs_dir: str = typer.Option("runs", help="runs go to RUNS_DIR/classify/NAME"),
    resume: bool = typer.Option(False, help="continue the run NAME from its last checkpoint"),
    overwrite: bool = typer.Option(False, help="replace an existing run folder"),
    train_options: dict | None = None,
) -> None:
    """Train a classifier into a run folder (config, metrics, checkpoints, plots, report.html).

    Data-parallel on several GPUs (or CPU processes): torchrun --nproc_per_node=N -m cnnlab classify train ...
    """
    from cnnlab.classify.options import train as train_run

    exit_for(train_run(Options.from_cli(ctx)))


add_lr_find(app, "classify", "cnnlab classify lr-find --data cifar10 --model resnet34 --optimizer sgd")


def quickstart(runs_dir: str = typer.Option("runs", help="runs go to RUNS_DIR/classify/quickstart"),
               epochs: int = typer.Option(30)) -> None:
    """Train the seed's baseline CNN on scikit-learn's digits (built in) and print test accuracy.

    The digits are upscaled from 8x8 to the seed's 32x32, lightly augmented (rotation, zoom, shift) and
    trained with Adam and a cosine schedule; about 13 s of training on 2 idle CPU cores. Replaces an earlier
    quickstart run.
    """
    from cnnlab.classify.training import train_classifier

    cfg = ClassifyConfig(data=DataConfig("digits", image_size=32), model="baseline-cnn",
                         augment=parse_augment("rotation=10,zoom=0.1,shift=0.1"),
                         fit=FitConfig(epochs=epochs, batch_size=32, schedule="cosine"),
                         name="quickstart", runs_dir=runs_dir)
    result = train_classifier(cfg, overwrite=True)
    if result.state.status == "interrupted":
        sys.exit(130)
    console.print(f"quickstart: test accuracy {result.summary['test_acc']:.2%} "
                  f"({result.summary['train_seconds']:.0f} s training); open {result.run.path / 'report.html'}")


@app.command("evaluate")
def evaluate(run: str = typer.Argument(..., help="a classify run folder"),
             split: str = typer.Option(None, help="the run's split to judge: test (the default), val or train"),
             out: str = typer.Option(None, help="also write the result to this JSON file"),
             device: str = typer.Option("auto")) -> None:
    """Accuracy, balanced accuracy and each class's accuracy (recall), precision and F1 of a run's best checkpoint on
    a split of its dataset."""
    from cnnlab.classify.evaluate import evaluate_run

    result = evaluate_run(run, out, device=device, split=split)
    rows = [{"class": c, **v} for c, v in result["per_class"].items()]
    print_table(rows, f"{result['judged']}: accuracy {result['acc']:.2%}, balanced accuracy "
                      f"{result['balanced_acc']:.2%}, loss {result['loss']:.4f}")


@app.command("predict")
def predict(run: str = typer.Argument(..., help="a run folder, or a model exported by `cnnlab export` (.onnx, "
                                      ".safetensors)"),
            images: list[str] = typer.Argument(..., help="image files or folders"),
            top_k: int = typer.Option(3, "--top-k"), as_json: bool = typer.Option(False, "--json"),
            device: str = typer.Option("auto")) -> None:
    """Top-k classes with probabilities for each image."""
    from cnnlab.classify.evaluate import load_classifier, predict_images

    check_number("top_k", top_k, low=1, integer=True)
    results = predict_images(load_classifier(run, device=device), images, top_k)
    if as_json:
        print(json.dumps(results, indent=2))
        return
    for r in results:
        shown = r["error"] if "error" in r else ", ".join(f"{c} {p:.1%}" for c, p in r["top"])
        console.print(f"{r['path']}: {shown}")


@app.command("compare")
def compare(runs: list[str] = typer.Argument(..., help="finished run folders"),
            out: str = typer.Option("runs/compare", help="where compare.html/png/json go")) -> None:
    """One table (params, time, accuracy, gap, overfitting) and overlaid validation curves."""
    from cnnlab.classify.compare import compare_runs

    print_table(compare_runs(runs, out))
    console.print(f"wrote {Path(out) / 'compare.html'}")


@app.command("sweep")
def sweep(data: str = DATA, data_dir: str = DATA_DIR, image_size: int = IMAGE_SIZE,
          augment: str = typer.Option("standard", help="the augmentation of the 'with' runs"),
          epochs: int = typer.Option(10), batch_size: int = typer.Option(64), seed: int = typer.Option(0),
          name: str = typer.Option("sweep"), runs_dir: str = typer.Option("runs"),
          overwrite: bool = typer.Option(False), device: str = typer.Option("auto")) -> None:
    """The seed's exercise: 3 CNNs of different depth/kernel/dense size, each with and without augmentation."""
    from cnnlab.classify.compare import sweep_configs, train_and_compare

    data_config = DataConfig(data, data_dir, default_image_size(data, image_size), seed=seed)
    base = ClassifyConfig(data=data_config, name=name, runs_dir=runs_dir,
                          fit=FitConfig(epochs=epochs, batch_size=batch_size, seed=seed, device=device))
    out = Path(runs_dir) / "classify" / f"{name}-compare"
    print_table(train_and_compare(sweep_configs(base, parse_augment(augment)), out, overwrite=overwrite), "sweep")
    console.print(f"wrote {out / 'compare.html'}")


@app.command("transfer-compare")
def transfer_compare(
    model: str = typer.Option("timm:efficientnet_lite0", "--model"), data: str = DATA, data_dir: str = DATA_DIR,
    image_size: int = IMAGE_SIZE, train_per_class: int = typer.Option(None, help="few-label runs: N per class"),
    input_size: int = typer.Option(None, help="side the network takes (default: the weights')"),
    weights: str = typer.Option(None), freeze_epochs: int = typer.Option(3), finetune_epochs: int = typer.Option(3),
    freeze_lr: float = typer.Option(FREEZE_LR), finetune_lr: float = typer.Option(FINETUNE_LR),
    augment: str = typer.Option("none"), batch_size: int = typer.Option(64), seed: int = typer.Option(0),
    name: str = typer.Option("transfer"), runs_dir: str = typer.Option("runs"),
    overwrite: bool = typer.Option(False), device: str = typer.Option("auto"),
) -> None:
    """From scratch vs frozen pretrained backbone vs fine-tuned, same network, data and epochs."""
    from cnnlab.classify.compare import train_and_compare, transfer_configs

    data_config = DataConfig(data, data_dir, default_image_size(data, image_size), train_per_class=train_per_class,
                             seed=seed)
    base = ClassifyConfig(data=data_config,
                          model=model, weights=weights, input_size=input_size, augment=parse_augment(augment),
                          fit=FitConfig(batch_size=batch_size, seed=seed, device=device), name=name,
                          runs_dir=runs_dir)
    if freeze_epochs < 1 or finetune_epochs < 1:
        raise CnnlabError("transfer-compare needs at least one frozen and one fine-tuning epoch")
    freeze, finetune = transfer_phases(freeze_epochs, finetune_epochs, freeze_lr=freeze_lr, finetune_lr=finetune_lr)
    out = Path(runs_dir) / "classify" / f"{name}-compare"
    rows = train_and_compare(transfer_configs(base, freeze, finetune), out, overwrite=overwrite)
    print_table(rows, "transfer learning")
    console.print(f"wrote {out / 'compare.html'}")


@app.command("augment-preview")
def augment_preview(data: str = DATA, data_dir: str = DATA_DIR, image_size: int = IMAGE_SIZE,
                    augment: str = typer.Option("all", help="none, standard, all, or e.g. hflip,rotation=15"),
                    n: int = typer.Option(6, "-n", help="number of images (one per class first)"),
                    variants: int = typer.Option(8), seed: int = typer.Option(0),
                    out: str = typer.Option("augment-preview.png")) -> None:
    """A PNG grid: each row an image and augmented copies of it."""
    from cnnlab.data.augment import preview_grid
    from cnnlab.data.datasets import load_dataset
    from cnnlab.report.plots import save_image_grid

    check_number("n", n, low=1, high=100, integer=True)
    check_number("variants", variants, low=1, high=32, integer=True)
    config = parse_augment(augment)

    train_set = load_dataset(DataConfig(data, data_dir, image_size)).train
    first = {}
    for i, label in enumerate(train_set.labels.tolist()):
        first.setdefault(label, i)
    picks = (list(first.values()) + list(range(len(train_set))))[:n]
    grid = preview_grid(train_set.images[picks], config, variants=variants, seed=seed)
    labels = [train_set.classes[train_set.labels[i]] for i in picks]
    out = fresh_path(out)
    save_image_grid(grid, out, labels, ["original"] + [f"#{k + 1}" for k in range(variants)])
    console.print(f"wrote {out}")
