"""The GAN run's ending: FID-style and KID-style scores, curves, the grids over time, report.html."""

from __future__ import annotations

import html
import json

import torch

from cnnlab.atomic import replacing, write_text
from cnnlab.errors import RunFolderError
from cnnlab.generate import memorisation
from cnnlab.generate.grids import save_grid
from cnnlab.generate.health import FeatureSpace, RealHalves, scores
from cnnlab.report.html import image, page, table
from cnnlab.report.plots import _save, plt
from cnnlab.train import RunDir

SCORE_SAMPLES = 1000  # generated images scored at the end, against as many real ones (fewer: half the real set)
MEMORISATION_SAMPLES = 64  # generated images checked for near copies of a training image
GRIDS_SHOWN = 8


def finish(run: RunDir, cfg, trainer, reals, space: FeatureSpace, history: list[dict], status: str) -> dict:
    """The scores of the finished run (averaged generator, and the raw one beside it), each next to the
    real-vs-real floor, the memorisation check, summary.json and report.html. `reals`: RealFeatures."""
    halves = RealHalves.split(reals.features, SCORE_SAMPLES, cfg.seed + 1)
    n = len(halves.b)
    z = torch.randn(n, cfg.latent_dim, generator=torch.Generator().manual_seed(cfg.seed + 1))
    images = trainer.generate(z)  # (n, C, S, S) in [0, 1]
    fake = space.embed(images)
    final = scores(fake, halves.b, seed=cfg.seed)
    raw = scores(space.embed(trainer.generate(z, weights="raw")), halves.b, seed=cfg.seed) if trainer.ema else None
    shown = min(MEMORISATION_SAMPLES, n)
    memo = memorisation.check(fake[:shown], reals.features, seed=cfg.seed)
    grid, labels = memorisation.pairs_grid(images[:shown].cpu(), reals.images, memo)
    save_grid(grid, run.path / "memorisation.png", col_labels=labels, row_labels=["generated", "nearest real"])
    summary = {"status": status, "epochs": len(history), "train_seconds": sum(r["seconds"] for r in history),
               "seconds_per_epoch": sum(r["seconds"] for r in history) / max(len(history), 1),
               **final, "floor": halves.floor, "fid_over_floor": final["fid"] / max(halves.floor["fid"], 1e-12),
               "scored": "averaged generator (EMA)" if trainer.ema else "generator", "raw": raw,
               "score_samples": n, "final_diversity": history[-1]["diversity"], "features": space.name,
               "collapse_epochs": [r["epoch"] for r in history if r["diversity"] < 0.5], **memo.summary()}
    run.write_json("summary.json", summary)
    write_report(run)
    run.log(f"FID-style {final['fid']:.2f} ({summary['fid_over_floor']:.1f}x the real-vs-real floor "
            f"{halves.floor['fid']:.2f}), KID-style {final['kid']:.4f}, precision {final['precision']:.2f}, "
            f"recall {final['recall']:.2f} (floor {halves.floor['recall']:.2f}); {memo.copies} of {shown} samples "
            f"near copies of a training image ({n} samples, {space.name}); report: {run.path / 'report.html'}",
            style="bold green")
    return summary


def plot_gan_history(history: list[dict], path) -> None:
    epochs = [r["epoch"] for r in history]
    scored = all("fid" in r for r in history)  # runs made before the per-epoch scores have none
    fig, axes = plt.subplots(2 if scored else 1, 3, figsize=(15, 8 if scored else 4), squeeze=False)
    for key in ("d_loss", "g_loss"):
        axes[0, 0].plot(epochs, [r[key] for r in history], label=key.replace("_", " "))
    for key in ("d_real", "d_fake"):
        axes[0, 1].plot(epochs, [r[key] for r in history], label=f"D on {key[2:]} images")
    axes[0, 2].plot(epochs, [r["diversity"] for r in history], color="purple")
    axes[0, 2].axhline(0.5, color="red", ls="--", lw=1, label="collapse warning")
    axes[0, 2].axhline(1.0, color="grey", ls=":", lw=1, label="as diverse as the real images")
    titles = ["losses", "discriminator output", "diversity (generated / real)"]
    if scored:
        axes[1, 0].plot(epochs, [r["fid"] for r in history], color="C3", label="generated vs real")
        axes[1, 0].axhline(history[-1]["floor_fid"], color="grey", ls=":", label="real vs real (floor)")
        axes[1, 0].set_yscale("log")
        for key, colour in (("precision", "C0"), ("recall", "C2")):
            axes[1, 1].plot(epochs, [r[key] for r in history], color=colour, label=key)
            axes[1, 1].axhline(history[-1][f"floor_{key}"], color=colour, ls=":", lw=1, label=f"{key}, real vs real")
        axes[1, 1].set_ylim(0, 1.02)
        axes[1, 2].plot(epochs, [r["kid"] for r in history], color="C4", label="generated vs real")
        axes[1, 2].axhline(history[-1]["floor_kid"], color="grey", ls=":", label="real vs real (floor)")
        titles += ["FID-style distance (log)", "precision and recall", "KID-style distance"]
    for ax, title in zip(axes.flat, titles, strict=True):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def write_report(run: RunDir) -> None:
    """history.png and report.html from the run's files; everything is read and checked before a file is
    replaced."""
    config, summary, history = run.read_json("config.json"), run.read_json("summary.json"), run.read_metrics()
    try:
        facts, warning = summary_facts(summary)
        title = f"{config['generator']} DCGAN on {config['data']}"
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RunFolderError(f"{run.path} is not a finished generate run ({type(exc).__name__}: {exc}); nothing was "
                             "rewritten") from exc
    with replacing(run.path / "history.png") as tmp:
        plot_gan_history(history, tmp)
    grids = sorted((run.path / "epochs").glob("epoch_*.png"))
    step = max(1, -(-len(grids) // GRIDS_SHOWN))
    shown = grids[::step][: GRIDS_SHOWN - 1] + grids[-1:] if grids else []
    sections = [
        ("Summary", warning + table(facts)),
        ("Curves", image(run.path / "history.png", "GAN curves")),
        *memorisation_section(run, summary),
        ("Fixed-noise samples over time", "".join(f"<h3>{p.stem.replace('_', ' ')}</h3>" + image(p, p.stem)
                                                  for p in shown)),
        ("Per-epoch metrics", table(history)),
        ("Configuration", f"<pre>{html.escape(json.dumps(config, indent=2))}</pre>"),
    ]
    write_text(run.path / "report.html", page(title, sections))


def memorisation_section(run: RunDir, summary: dict) -> list[tuple[str, str]]:
    if "memorised" not in summary or not (run.path / "memorisation.png").is_file():
        return []
    text = (f"<p>The {memorisation.PAIRS_SHOWN} generated samples (of {summary['memorisation_samples']}) closest to a "
            "training image, each above its nearest real training image; the number is the distance over the median "
            f"distance between a training image and its nearest other one ({summary['real_spacing']:.3g}). Below "
            f"{memorisation.COPY_SHARE} a sample counts as a near copy: <b>{summary['memorised']}</b> of "
            f"{summary['memorisation_samples']}.</p>")
    return [("Memorisation: nearest real images", text + image(run.path / "memorisation.png", "nearest real images"))]


def summary_facts(summary: dict) -> tuple[list[dict], str]:
    floor = summary.get("floor") or {}

    def beside(key: str, fmt: str) -> str:
        value = format(summary[key], fmt)
        return f"{value} (real vs real: {format(floor[key], fmt)})" if key in floor else value

    facts = [
        {"": "training", "value": f"{summary['epochs']} epochs, {summary['train_seconds']:.0f} s "
                                  f"({summary['seconds_per_epoch']:.1f} s/epoch), {summary['status']}"},
        {"": "scored", "value": f"{summary.get('scored', 'generator')}, {summary['score_samples']} samples"},
        {"": "FID-style distance", "value": beside("fid", ".2f")},
        {"": "KID-style distance", "value": f"{beside('kid', '.4f')} +- {summary['kid_std']:.4f}"},
    ]
    if "precision" in summary:
        facts += [{"": "precision", "value": beside("precision", ".3f")},
                  {"": "recall", "value": beside("recall", ".3f")}]
    if summary.get("raw"):
        raw = summary["raw"]
        facts.append({"": "raw generator", "value": f"FID {raw['fid']:.2f}, KID {raw['kid']:.4f}, precision "
                                                    f"{raw['precision']:.3f}, recall {raw['recall']:.3f}"})
    if "memorised" in summary:
        facts.append({"": "near copies", "value": f"{summary['memorised']} of {summary['memorisation_samples']}"})
    facts += [
        {"": "feature space", "value": summary["features"]},
        {"": "final diversity", "value": f"{summary['final_diversity']:.2f} (1 = as diverse as the real images)"},
    ]
    warning = ""
    if summary["collapse_epochs"]:
        warning = (f"<p style='color:#b00'><b>Mode collapse warning:</b> diversity fell below 0.5 in epochs "
                   f"{', '.join(map(str, summary['collapse_epochs'][:20]))}.</p>")
    return facts, warning
