"""Finished GAN runs side by side: the scores at the end, each next to its real-vs-real floor, and the
per-epoch FID-style distance and recall of every run in one plot."""

from __future__ import annotations

import json
from pathlib import Path

from cnnlab.atomic import replacing, write_text
from cnnlab.errors import RunFolderError
from cnnlab.report.html import image, page, table
from cnnlab.report.plots import _save, plt
from cnnlab.train import RunDir


def compare_row(run: RunDir) -> dict:
    try:
        s, cfg = run.read_json("summary.json"), run.read_json("config.json")
    except RunFolderError:
        raise RunFolderError(f"{run.path} has no summary.json: it did not finish (resume it first)") from None
    if not isinstance(s, dict) or "fid" not in s:
        raise RunFolderError(f"{run.path}/summary.json holds no GAN scores; pass finished runs of runs/generate/")
    floor = s.get("floor") or {}

    def value(key: str, digits: int):
        return round(s[key], digits) if isinstance(s.get(key), (int, float)) else None

    return {"run": run.path.name, "generator": cfg.get("generator"), "loss": cfg.get("loss", "bce"),
            "diffaug": cfg.get("diffaug", "none"), "ema": cfg.get("ema", 0.0),
            "spectral norm": cfg.get("spectral_norm", False), "r1": cfg.get("r1", 0.0), "epochs": s.get("epochs"),
            "s/epoch": value("seconds_per_epoch", 2), "FID": value("fid", 2),
            "FID floor": round(floor["fid"], 2) if "fid" in floor else None,
            "FID / floor": value("fid_over_floor", 2), "KID": value("kid", 4), "precision": value("precision", 3),
            "recall": value("recall", 3), "recall floor": round(floor["recall"], 3) if "recall" in floor else None,
            "near copies": s.get("memorised"), "diversity": value("final_diversity", 3)}


def plot_scores(histories: dict[str, list[dict]], path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for i, (name, history) in enumerate(histories.items()):
        scored = [r for r in history if "fid" in r]
        if not scored:
            continue
        epochs = [r["epoch"] for r in scored]
        axes[0].plot(epochs, [r["fid"] for r in scored], color=f"C{i}", label=name)
        axes[1].plot(epochs, [r["recall"] for r in scored], color=f"C{i}", label=name)
        axes[0].axhline(scored[-1]["floor_fid"], color=f"C{i}", ls=":", lw=1)
        axes[1].axhline(scored[-1]["floor_recall"], color=f"C{i}", ls=":", lw=1)
    axes[0].set_yscale("log")
    for ax, title in zip(axes, ("FID-style distance (dotted: real vs real)", "recall (dotted: real vs real)"),
                         strict=True):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    _save(fig, path)


def compare_runs(paths: list[str | Path], out: str | Path) -> list[dict]:
    """compare.json, compare.png and compare.html in `out` for the finished GAN runs `paths`."""
    runs = [RunDir.open(p, task="generate") for p in paths]
    rows = [compare_row(run) for run in runs]  # every run is checked before anything is written
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"--out {out} is a file; give a folder for compare.html, compare.png and compare.json")
    out.mkdir(parents=True, exist_ok=True)
    with replacing(out / "compare.png") as tmp:
        plot_scores({run.path.name: run.read_metrics() for run in runs}, tmp)
    write_text(out / "compare.json", json.dumps(rows, indent=2))
    write_text(out / "compare.html", page("GAN runs compared", [("Runs", table(rows)),
                                                                ("Scores per epoch", image(out / "compare.png"))]))
    return rows
