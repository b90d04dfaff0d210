"""Compare finished runs side by side, and the seed's sweep: several CNNs, with and without augmentation."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from cnnlab.classify.config import ClassifyConfig
from cnnlab.classify.training import train_classifier
from cnnlab.console import console
from cnnlab.data.augment_spec import AugmentConfig
from cnnlab.errors import RunFolderError
from cnnlab.report.html import image, page, table
from cnnlab.report.overfit import overfitting_verdict
from cnnlab.report.plots import plot_comparison
from cnnlab.train import PhaseConfig, RunDir

# The seed exercise's networks: baseline-cnn varied in depth, kernel size and dense width.
SWEEP_NETWORKS = {
    "2conv-k3-d64": {"filters": [32, 64], "kernel": 3, "dense": 64},
    "3conv-k3-d64": {"filters": [32, 64, 64], "kernel": 3, "dense": 64},  # the seed's baseline
    "3conv-k5-d256": {"filters": [32, 64, 64], "kernel": 5, "dense": 256},
}


def compare_row(run: RunDir) -> dict:
    try:
        summary = run.read_json("summary.json")
    except RunFolderError:
        raise RunFolderError(f"{run.path} has no summary.json: it did not finish (resume it first)") from None
    history = run.read_metrics()
    verdict = overfitting_verdict(history)
    return {"run": run.path.name, "model": summary["model"], "augment": summary["augment"],
            "params": summary["params"], "trainable": summary.get("trainable_params", summary["params"]),
            "epochs": summary["epochs"],
            "s/epoch": round(summary["seconds_per_epoch"], 2), "train s": round(summary["train_seconds"], 1),
            "best val acc": round(summary["best_val_acc"], 4), "test acc": round(summary["test_acc"], 4),
            "gap": round(verdict.gap, 4) if verdict.gap is not None else None,
            "overfits from": verdict.onset_epoch}


def compare_runs(paths: list[str | Path], out: str | Path) -> list[dict]:
    """One table (params, time, accuracy, train/val gap, overfitting onset) and overlaid curves, written to out/."""
    runs = [RunDir.open(p) for p in paths]
    rows = [compare_row(run) for run in runs]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plot_comparison({run.path.name: run.read_metrics() for run in runs}, out / "compare.png")
    (out / "compare.json").write_text(json.dumps(rows, indent=2))
    (out / "compare.html").write_text(page("Comparison", [("Runs", table(rows)),
                                                         ("Validation curves", image(out / "compare.png"))]))
    return rows


def train_and_compare(configs: list[ClassifyConfig], out: Path, *, overwrite: bool = False) -> list[dict]:
    """Train each config into its run folder, then compare them all (compare.html/png/json in out/)."""
    paths = []
    for cfg in configs:
        console.rule(cfg.name)
        paths.append(train_classifier(cfg, overwrite=overwrite).run.path)
    return compare_runs(paths, out)


def sweep_configs(base: ClassifyConfig, augment: AugmentConfig) -> list[ClassifyConfig]:
    """Each sweep network, without and with `augment`, named after both."""
    configs = []
    for net, args in SWEEP_NETWORKS.items():
        for aug in (AugmentConfig(), augment):
            suffix = "aug" if aug.enabled else "noaug"
            configs.append(dataclasses.replace(base, model="baseline-cnn", model_args=args, augment=aug,
                                               name=f"{base.name or 'sweep'}-{net}-{suffix}"))
    return configs


def transfer_configs(base: ClassifyConfig, freeze: PhaseConfig, finetune: PhaseConfig) -> list[ClassifyConfig]:
    """The same network and budget three ways: from scratch (Adam 1e-3, all layers), frozen pretrained
    backbone (only the head trains, for the whole budget), and frozen-then-fine-tuned."""
    epochs = freeze.epochs + finetune.epochs
    name = base.name or "transfer"
    scratch_fit = dataclasses.replace(base.fit, epochs=epochs, optimizer="adam", lr=1e-3, phases=())
    frozen_fit = dataclasses.replace(base.fit, phases=(dataclasses.replace(freeze, epochs=epochs),))
    tuned_fit = dataclasses.replace(base.fit, phases=(freeze, finetune))
    return [
        dataclasses.replace(base, pretrained=False, weights=None, fit=scratch_fit, name=f"{name}-scratch"),
        dataclasses.replace(base, pretrained=True, fit=frozen_fit, name=f"{name}-frozen"),
        dataclasses.replace(base, pretrained=True, fit=tuned_fit, name=f"{name}-finetuned"),
    ]
