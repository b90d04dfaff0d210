"""`cnnlab segment ...`: train, evaluate, predict, compare, via-to-masks."""

from __future__ import annotations

import typer

from cnnlab.cliutil import add_lr_find, exit_for
from cnnlab.console import console
from cnnlab.options import Options
from cnnlab.segment.options import DEFAULT_EPOCHS, FIT_OPTIONS
from cnnlab.train.options import training_options

app = typer.Typer(no_args_is_help=True)


@app.command("train")
@training_options(*FIT_OPTIONS, defaults={"batch_size": 16})
def train(ctx: typer.Context,
          data: str = typer.Option("digits", help="digits, isbi:PATH, oxford-pet:PATH or folder:PATH"),
          image_size: int = typer.Option(128, help="a multiple of 32 (the seed: 128)"),
          encoder: str = typer.Option("efficientnet_lite0", help="a timm CNN (mobilenetv2_100, resnet18, ...)"),
          pretrained: bool = typer.Option(True, help="ImageNet weights for the encoder"),
          weights: str = typer.Option(None), dropout: float = typer.Option(0.0, help="decoder dropout (seed: 0.5)"),
          augment: bool = typer.Option(True, help="joint flip/rotation/zoom/shift of image and mask"),
          drop_leaks: bool = typer.Option(False, help="leave out validation images that duplicate a training image "
                                          "(exact or near, as `cnnlab data audit` finds them)"),
          class_weights: str = typer.Option("none", help="auto: weight each class in the loss by N / (K * its "
                                            "training pixels), for rare classes (thin membranes, small objects)"),
          epochs: int = typer.Option(None, help=f"epochs in all (default: {DEFAULT_EPOCHS}, all with the encoder "
                                     "frozen)"),
          freeze_epochs: int = typer.Option(None, help="of them, epochs with the encoder frozen (default: all but "
                                            "--finetune-epochs)"),
          finetune_epochs: int = typer.Option(None, help="then epochs with the encoder trained too (default: 0)"),
          freeze_lr: float = typer.Option(1e-3, help="learning rate of the frozen-encoder epochs (Adam)"),
          finetune_lr: float = typer.Option(1e-4, help="learning rate of the fine-tuning epochs (Adam)"),
          name: str = typer.Option(None), runs_dir: str = typer.Option("runs"),
          resume: bool = typer.Option(False, help="continue the run NAME from its last checkpoint"),
          overwrite: bool = typer.Option(False, help="replace an existing run folder"),
          train_options: dict | None = None) -> None:
    """Train a U-Net on a pretrained encoder (frozen, then optionally fine-tuned) into a run folder."""
    from cnnlab.segment.options import train as train_run

    exit_for(train_run(Options.from_cli(ctx)))


add_lr_find(app, "segment", "cnnlab segment lr-find --data isbi:PATH --encoder resnet18")


@app.command("evaluate")
def evaluate(run: str = typer.Argument(..., help="a segment run folder"),
             split: str = typer.Option(None, help="the run's split to judge: val (the default) or train"),
             data: str = typer.Option(None, help="other masked images to judge: digits, isbi:PATH, oxford-pet:PATH or "
                                      "folder:PATH (default: the run's validation split)"),
             out: str = typer.Option(None, help="also write the result to this JSON file"),
             device: str = typer.Option("auto")) -> None:
    """Pixel accuracy, mean IoU, Dice and each class's IoU of a run's best model."""
    from cnnlab.checks import check_device
    from cnnlab.cliutil import print_table
    from cnnlab.segment.evaluate import evaluate_run

    check_device(device)
    result = evaluate_run(run, data, out, device=device, split=split)
    print_table([{"class": c, "iou": v, "accuracy (recall)": result["class_acc"][c]} for c, v in result["iou"].items()],
                f"{result['judged']} ({result['count']} images): pixel accuracy {result['pixel_acc']:.2%}, "
                f"mean class accuracy {result['mean_acc']:.2%}, mIoU {result['miou']:.3f}, Dice {result['dice']:.3f}")


@app.command("predict")
def predict(run: str = typer.Argument(..., help="a segment run folder, or a model exported by `cnnlab export` (.onnx, "
                                      ".safetensors)"),
            images: list[str] = typer.Argument(..., help="image files or folders (searched recursively)"),
            out: str = typer.Option("predictions", "--out", help="folder for STEM_mask.png and STEM_overlay.png"),
            overwrite: bool = typer.Option(False, help="replace outputs that exist already in --out"),
            device: str = typer.Option("auto", help="where a run's U-Net runs (an export: ONNX Runtime, CPU)")
            ) -> None:
    """A mask PNG at each image's own size and a coloured overlay.

    Each image gets STEM_mask.png (class indices, with a palette) and STEM_overlay.png in --out. Images that
    share a file stem (a/x.png and b/x.png) get x, x-2, x-3, ... in the order given, so that no output
    overwrites another; files that exist already in --out are never replaced unless --overwrite is given."""
    from cnnlab.checks import check_device
    from cnnlab.segment.predict import predict_images

    check_device(device)
    for r in predict_images(run, images, out, overwrite=overwrite, device=device):
        shares = ", ".join(f"{k} {v:.0%}" for k, v in r["share"].items())
        console.print(f"{r['path']} -> {r['mask']} ({shares})")


@app.command("via-to-masks")
def via_to_masks(project: str = typer.Argument(..., help="a VIA project or region export (.json)"),
                 images: str = typer.Option(..., "--images", help="folder with the annotated images"),
                 out: str = typer.Option(..., "--out"),
                 attribute: str = typer.Option("class", help="the region attribute that names the class"),
                 overwrite: bool = typer.Option(False, help="replace the masks of an earlier conversion in --out")
                 ) -> None:
    """Turn VIA regions into mask PNGs: OUT/images, OUT/masks, OUT/classes.txt (train with folder:OUT).

    Only files inside --images are read (a file name that leads out of it is refused) and only files inside
    --out are written."""
    from cnnlab.segment.via import via_to_masks as convert

    folder = convert(project, images, out, attribute, overwrite=overwrite)
    console.print(f"wrote {folder}; train with: cnnlab segment train --data folder:{folder}")


@app.command("compare")
def compare(data: str = typer.Option("digits", help="digits, isbi:PATH, oxford-pet:PATH or folder:PATH"),
            image_size: int = typer.Option(128), encoder: str = typer.Option("efficientnet_lite0"),
            freeze_epochs: int = typer.Option(5, help="frozen epochs (the frozen runs get all epochs frozen)"),
            finetune_epochs: int = typer.Option(5), batch_size: int = typer.Option(16),
            augment: bool = typer.Option(True), seed: int = typer.Option(0), name: str = typer.Option("seg"),
            runs_dir: str = typer.Option("runs"), overwrite: bool = typer.Option(False),
            out: str = typer.Option(None, help="where compare.json goes (default RUNS_DIR/segment/NAME-compare.json)")
            ) -> None:
    """Frozen vs fine-tuned encoder, with and without dropout, and a random encoder: mIoU, Dice, s/epoch."""
    from pathlib import Path

    from cnnlab.cliutil import print_table
    from cnnlab.errors import DataError
    from cnnlab.segment.augment import NONE, JointAugment
    from cnnlab.segment.compare import compare_segmentation
    from cnnlab.segment.training import SegmentConfig
    from cnnlab.train.run import write_json_atomic

    base = SegmentConfig(data, image_size, encoder, augment=JointAugment() if augment else NONE,
                         freeze_epochs=freeze_epochs,
                         batch_size=batch_size, seed=seed, name=name, runs_dir=runs_dir)
    path = Path(out) if out else Path(runs_dir) / "segment" / f"{name}-compare.json"
    if path.is_dir():  # said now, not after five trainings
        raise DataError(f"--out {path} is a folder; give a file name such as {path / 'compare.json'}")
    rows = compare_segmentation(base, finetune_epochs, overwrite=overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, rows)
    print_table(rows, "segmentation")
    console.print(f"wrote {path}")
