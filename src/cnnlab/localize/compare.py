"""Several localize configurations on the same data and split, side by side: a table and overlaid curves."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from cnnlab.atomic import replacing
from cnnlab.console import console
from cnnlab.errors import ConfigError
from cnnlab.localize.config import LocalizeConfig

# name -> the fields that make it differ from the base configuration
VARIANTS = {
    "lecture": {"box_loss": "mse", "cls_weight": 0.8, "box_weight": 0.2},  # Keras: mse, loss_weights [0.8, 0.2]
    "smooth-l1": {"box_loss": "smooth-l1", "cls_weight": 1.0, "box_weight": 1.0},
    "giou": {"box_loss": "giou", "cls_weight": 1.0, "box_weight": 1.0},
    "frozen": {"box_loss": "giou", "finetune_epochs": 0},  # the backbone never trains
    "detect": {"head": "detect", "box_loss": "giou", "cls_weight": 1.0, "box_weight": 1.0},
}


def compare_configs(base: LocalizeConfig, names: list[str]) -> list[LocalizeConfig]:
    """One config a variant, all built (so checked) before any of them trains."""
    unknown = [n for n in names if n not in VARIANTS]
    if unknown or not names:
        raise ConfigError(f"--variants takes names from {', '.join(VARIANTS)}; got {', '.join(unknown) or 'none'}")
    prefix = base.name or "loc"
    configs = []
    for name in names:
        changes = dict(VARIANTS[name])
        if name == "frozen":
            changes["freeze_epochs"] = base.freeze_epochs + base.finetune_epochs
        configs.append(replace(base, **changes, name=f"{prefix}-{name}"))
    return configs


def compare_localizers(base: LocalizeConfig, names: list[str], *, overwrite: bool = False) -> tuple[list[dict], dict]:
    """Train every variant; returns the table rows and each run's history."""
    from cnnlab.localize.training import train_localizer
    from cnnlab.train.run import RunDir

    rows, histories = [], {}
    for name, cfg in zip(names, compare_configs(base, names), strict=True):
        console.rule(cfg.name)
        s = train_localizer(cfg, overwrite=overwrite)
        if "mean_iou" not in s:
            continue
        rows.append({"variant": name, "head": cfg.head, "box loss": cfg.box_loss,
                     "weights": f"{cfg.cls_weight:g}/{cfg.box_weight:g}", "epochs": s["epochs"],
                     "mean IoU": round(s["mean_iou"], 4), "acc@0.5": round(s["acc50"], 4),
                     "class acc": round(s["class_acc"], 4), "mAP@0.5": round(s["map50"], 4),
                     "mAP@.5:.95": round(s["map"], 4), "s/epoch": round(s["seconds_per_epoch"], 1)})
        histories[name] = RunDir(cfg.run_path).read_metrics()
    return rows, histories


def plot_compare(histories: dict[str, list[dict]], path: Path) -> Path:
    """Validation mean IoU and acc@0.5 of every variant, overlaid."""
    import matplotlib.pyplot as plt

    from cnnlab.report.backend import use_file_backend

    use_file_backend()

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name, history in histories.items():
        epochs = [r["epoch"] for r in history]
        axes[0].plot(epochs, [r["val_iou"] for r in history], "-o", ms=3, label=name)
        axes[1].plot(epochs, [r["val_hit"] for r in history], "-o", ms=3, label=name)
    for ax, label in zip(axes, ("validation mean IoU", "validation acc@0.5"), strict=True):
        ax.set(xlabel="epoch", ylabel=label, ylim=(0, 1))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
