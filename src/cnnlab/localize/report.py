"""The localize run's plots and report.html, rebuilt from the files in its folder."""

from __future__ import annotations

from pathlib import Path

from cnnlab.atomic import replacing, write_text
from cnnlab.errors import RunFolderError
from cnnlab.report.html import image, page, table
from cnnlab.report.plots import plot_history
from cnnlab.train.run import RunDir

FACTS = ("status", "head", "model", "data", "classes", "box_loss", "resize", "judged_on", "images", "epochs",
         "train_seconds", "seconds_per_epoch", "best_epoch", "mean_iou", "baseline_mean_iou", "acc50", "class_acc",
         "map50", "map")


def plot_box_curves(history: list[dict], path: Path, title: str) -> None:
    """Validation mean IoU, acc@0.5 and class accuracy per epoch, the phase change marked."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    epochs = [r["epoch"] for r in history]
    for key, label in (("val_iou", "mean IoU"), ("val_hit", "acc@0.5 (class and box)"), ("val_acc", "class acc")):
        ax.plot(epochs, [r.get(key, float("nan")) for r in history], "-o", ms=3, label=label)
    for before, after in zip(history, history[1:], strict=False):
        if before.get("phase") != after.get("phase"):
            ax.axvline(before["epoch"] + 0.5, color="grey", ls="--", lw=1)
    ax.set(xlabel="epoch", ylabel="validation", ylim=(0, 1), title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_iou_histogram(ious: list[float], path: Path, title: str) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(ious, bins=20, range=(0, 1), color="tab:blue", edgecolor="white")
    ax.axvline(0.5, color="red", ls="--", lw=1)
    ax.set(xlabel="IoU of the best prediction with the true box", ylabel="images", title=title)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def write_report(run: RunDir) -> None:
    """history.png, boxes.png, iou_hist.png and report.html from the run's files; everything is read and checked
    before a file is replaced."""
    config, summary, history = run.read_json("config.json"), run.read_json("summary.json"), run.read_metrics()
    try:
        title = f"{config['head']} localizer ({config['model']}) on {config['data']}"
        ious = [float(r["iou"]) for r in run.read_json("test_predictions.json")]
        facts = table([{"": k, "value": summary[k]} for k in FACTS if k in summary])
        rows = [{k: v for k, v in r.items() if not isinstance(v, list)} for r in history]
        judged = summary["judged_on"]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RunFolderError(f"{run.path} is not a finished localize run ({type(exc).__name__}: {exc}); nothing was "
                             "rewritten") from exc
    if not history:
        raise RunFolderError(f"{run.path} has no finished epoch in metrics.jsonl; nothing was rewritten")
    with replacing(run.path / "history.png") as tmp:
        plot_history(history, tmp, title)
    with replacing(run.path / "boxes.png") as tmp:
        plot_box_curves(history, tmp, title)
    with replacing(run.path / "iou_hist.png") as tmp:
        plot_iou_histogram(ious, tmp, f"{judged} images ({len(ious)})")
    last = sorted((run.path / "epochs").glob("epoch_*.png"))
    write_text(run.path / "report.html", page(title, [
        ("Summary", facts),
        ("Curves", image(run.path / "history.png") + image(run.path / "boxes.png")),
        (f"IoU on the {judged} images", image(run.path / "iou_hist.png")),
        ("Worst predictions (true green, predicted red)", image(run.path / "worst.png")),
        ("Validation boxes, last epoch", image(last[-1]) if last else ""),
        ("Per-epoch metrics", table(rows))]))
