"""`cnnlab localize ...`: train, evaluate, predict, compare, explain."""

from __future__ import annotations

import typer

from cnnlab.cliutil import add_lr_find, exit_for
from cnnlab.console import console
from cnnlab.localize.options import DEFAULT_EPOCHS, DEFAULT_FREEZE
from cnnlab.options import Options

app = typer.Typer(no_args_is_help=True)

DATA_HELP = ("digits, digits-multi (built in), or voc:DIR, oxford-pet:DIR, csv:FILE, yolo:DIR, coco:FILE, "
             "via:FILE")


@app.command("train")
def train(ctx: typer.Context, data: str = typer.Option("digits", help=DATA_HELP),
          label: str = typer.Option("species", help="oxford-pet: species (cat/dog) or breed"),
          attribute: str = typer.Option("class", help="via: the region attribute naming the class"),
          head: str = typer.Option("single", help="single (class + box) or detect (grid of cells, NMS)"),
          model: str = typer.Option("timm:efficientnet_lite0", help="backbone: a zoo name or timm:NAME"),
          pretrained: bool = typer.Option(True, help="ImageNet weights for the backbone (offline)"),
          weights: str = typer.Option(None, help="a weights file for the backbone"),
          image_size: int = typer.Option(224, help="images are resized to N x N"),
          resize: str = typer.Option("letterbox", help="letterbox (longer side to N, aspect kept, gray border) or "
                                     "stretch (each side to N)"),
          box_loss: str = typer.Option("giou", help="mse (the lecture's), smooth-l1 or giou"),
          cls_weight: float = typer.Option(1.0, help="weight of the class loss (the lecture: 0.8)"),
          box_weight: float = typer.Option(1.0, help="weight of the box loss (the lecture: 0.2)"),
          augment: bool = typer.Option(True, help="flip, scale, shift and colour, boxes moved along"),
          drop_leaks: bool = typer.Option(False, help="leave out validation and test images that duplicate a "
                                          "training image (exact or near, as `cnnlab data audit` finds them)"),
          val_fraction: float = typer.Option(0.15), test_fraction: float = typer.Option(0.15),
          epochs: int = typer.Option(None, help=f"epochs in all (default: {DEFAULT_EPOCHS}, the first "
                                     f"{DEFAULT_FREEZE} frozen)"),
          freeze_epochs: int = typer.Option(None, help=f"of them, epochs with the backbone frozen (default: "
                                            f"{DEFAULT_FREEZE})"),
          finetune_epochs: int = typer.Option(None, help="then epochs training everything (default: the rest)"),
          freeze_lr: float = typer.Option(3e-3), finetune_lr: float = typer.Option(5e-4),
          batch_size: int = typer.Option(16), max_seconds: float = typer.Option(None, help="training time budget"),
          seed: int = typer.Option(0), device: str = typer.Option("auto"), name: str = typer.Option(None),
          runs_dir: str = typer.Option("runs"), resume: bool = typer.Option(False),
          overwrite: bool = typer.Option(False)) -> None:
    """Train a localizer (class + box) or a grid detector into runs/localize/NAME."""
    from cnnlab.localize.options import train as train_run

    exit_for(train_run(Options.from_cli(ctx)))


add_lr_find(app, "localize", "cnnlab localize lr-find --data voc:PATH --model timm:resnet18")


@app.command("evaluate")
def evaluate(run: str = typer.Argument(..., help="a localize run folder"),
             split: str = typer.Option(None, help="the run's split to judge: test (the default; val when the run "
                                       "holds no test images), val or train"),
             data: str = typer.Option(None, help="other boxed images to judge (default: the run's test split)"),
             out: str = typer.Option(None, help="also write the per-image results to this JSON file"),
             device: str = typer.Option("auto")) -> None:
    """Mean IoU, accuracy at IoU >= 0.5, class accuracy and mAP of a run's best model."""
    from cnnlab.checks import check_device
    from cnnlab.cliutil import print_table
    from cnnlab.localize.predict import evaluate_run

    check_device(device)
    result = evaluate_run(run, data, out, device=device, split=split)
    print_table([{k: result[k] for k in ("count", "mean_iou", "acc50", "class_acc", "map50", "map")}],
                f"{result['judged']} ({result['count']} images)")


@app.command("predict")
def predict(run: str = typer.Argument(..., help="a localize run folder, or a model exported by `cnnlab export` "
                                      "(.onnx, .safetensors)"),
            images: list[str] = typer.Argument(..., help="image files or folders (searched recursively)"),
            out: str = typer.Option("predictions", "--out", help="folder for STEM_boxes.png and predictions.json"),
            score: float = typer.Option(0.3, help="detect head: smallest score drawn and written"),
            device: str = typer.Option("auto", help="where a run's model runs (an export: ONNX Runtime, CPU)")
            ) -> None:
    """Boxes drawn on each image at its own size, and a COCO-style predictions.json. Nothing in --out is
    replaced: a name taken already gets -2, -3, ..."""
    from cnnlab.checks import check_device
    from cnnlab.localize.predict import predict_images

    check_device(device)
    json_path, rows = predict_images(run, images, out, min_score=score, device=device)
    for r in rows:
        shown = ", ".join(f"{b['class']} {b['score']:.2f}" for b in r["boxes"]) or "nothing"
        console.print(f"{r['path']} -> {r['drawn']} ({shown})")
    console.print(f"wrote {json_path}")


@app.command("explain", hidden=True)
def explain(run: str = typer.Argument(...), images: list[str] = typer.Argument(...),
            target: str = typer.Option("class"), device: str = typer.Option("auto"),
            out: str = typer.Option("explain", "--out")) -> None:
    """Its old name: Grad-CAM of every task is `cnnlab explain cam RUN IMAGES [--target class|box]`."""
    from cnnlab.cliutil import show_figures
    from cnnlab.console import notice
    from cnnlab.localize.cam import explain_run

    notice("`cnnlab localize explain` is now `cnnlab explain cam` (the same options); this name will go")
    show_figures(*explain_run(run, images, target=target, out=out, device=device), f"Grad-CAM ({target})")


@app.command("compare")
def compare(data: str = typer.Option("digits", help=DATA_HELP), label: str = typer.Option("species"),
            variants: str = typer.Option("lecture,smooth-l1,giou,detect",
                                         help="comma-separated: lecture, smooth-l1, giou, frozen, detect"),
            model: str = typer.Option("timm:efficientnet_lite0"), pretrained: bool = typer.Option(True),
            image_size: int = typer.Option(224), resize: str = typer.Option("letterbox", help="letterbox or stretch"),
            freeze_epochs: int = typer.Option(3),
            finetune_epochs: int = typer.Option(5), batch_size: int = typer.Option(16),
            seed: int = typer.Option(0), name: str = typer.Option("loc"), runs_dir: str = typer.Option("runs"),
            overwrite: bool = typer.Option(False)) -> None:
    """Train a few configurations on the same data and split: a table, compare.json and compare.png."""
    from pathlib import Path

    from cnnlab.cliutil import fresh_path, print_table
    from cnnlab.localize.compare import compare_configs, compare_localizers, plot_compare
    from cnnlab.localize.config import LocalizeConfig
    from cnnlab.train.run import write_json_atomic

    names = [v.strip() for v in variants.split(",") if v.strip()]
    base = LocalizeConfig(data, label, model=model, pretrained=pretrained, image_size=image_size, resize=resize,
                          freeze_epochs=freeze_epochs, finetune_epochs=finetune_epochs, batch_size=batch_size,
                          seed=seed, name=name, runs_dir=runs_dir)
    compare_configs(base, names)  # every variant checked before the first trains
    rows, histories = compare_localizers(base, names, overwrite=overwrite)
    folder = Path(runs_dir) / "localize"
    json_path = fresh_path(folder / f"{name}-compare.json")
    write_json_atomic(json_path, rows)
    png = plot_compare(histories, fresh_path(folder / f"{name}-compare.png"))
    print_table(rows, "localize")
    console.print(f"wrote {json_path} and {png}")
