"""The GAN run's ending: FID-style and KID-style scores, curves, the grids over time, report.html."""

from __future__ import annotations

import html
import json

import torch

from cnnlab.atomic import replacing, write_text
from cnnlab.errors import RunFolderError
from cnnlab.generate.health import FeatureSpace, frechet_distance, kernel_distance
from cnnlab.report.html import image, page, table
from cnnlab.report.plots import _save, plt
from cnnlab.train import RunDir

SCORE_SAMPLES = 1000  # generated and real images compared for FID / KID
GRIDS_SHOWN = 8


def finish(run: RunDir, cfg, trainer, real_images: torch.Tensor, space: FeatureSpace, history: list[dict],
           status: str) -> dict:
    n = min(SCORE_SAMPLES, len(real_images))
    g = torch.Generator().manual_seed(cfg.seed + 1)
    real = space.embed(real_images[torch.randperm(len(real_images), generator=g)[:n]].float() / 255)
    fake = space.embed(trainer.generate(torch.randn(n, cfg.latent_dim, generator=g)))
    kid, kid_std = kernel_distance(fake, real, subset_size=min(200, n))
    summary = {"status": status, "epochs": len(history), "train_seconds": sum(r["seconds"] for r in history),
               "seconds_per_epoch": sum(r["seconds"] for r in history) / max(len(history), 1),
               "fid": frechet_distance(fake, real), "kid": kid, "kid_std": kid_std, "score_samples": n,
               "final_diversity": history[-1]["diversity"], "features": space.name,
               "collapse_epochs": [r["epoch"] for r in history if r["diversity"] < 0.5]}
    run.write_json("summary.json", summary)
    write_report(run)
    run.log(f"FID-style {summary['fid']:.2f}, KID-style {kid:.4f} +- {kid_std:.4f} ({n} samples, {space.name}); "
            f"report: {run.path / 'report.html'}", style="bold green")
    return summary


def plot_gan_history(history: list[dict], path) -> None:
    epochs = [r["epoch"] for r in history]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for key in ("d_loss", "g_loss"):
        axes[0].plot(epochs, [r[key] for r in history], label=key.replace("_", " "))
    for key in ("d_real", "d_fake"):
        axes[1].plot(epochs, [r[key] for r in history], label=f"D on {key[2:]} images")
    axes[2].plot(epochs, [r["diversity"] for r in history], color="purple")
    axes[2].axhline(0.5, color="red", ls="--", lw=1, label="collapse warning")
    axes[2].axhline(1.0, color="grey", ls=":", lw=1, label="as diverse as the real images")
    for ax, title in zip(axes, ("losses", "discriminator output", "diversity (generated / real)"), strict=True):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
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
        ("Fixed-noise samples over time", "".join(f"<h3>{p.stem.replace('_', ' ')}</h3>" + image(p, p.stem)
                                                  for p in shown)),
        ("Per-epoch metrics", table(history)),
        ("Configuration", f"<pre>{html.escape(json.dumps(config, indent=2))}</pre>"),
    ]
    write_text(run.path / "report.html", page(title, sections))


def summary_facts(summary: dict) -> tuple[list[dict], str]:
    facts = [
        {"": "training", "value": f"{summary['epochs']} epochs, {summary['train_seconds']:.0f} s "
                                  f"({summary['seconds_per_epoch']:.1f} s/epoch), {summary['status']}"},
        {"": "FID-style distance", "value": f"{summary['fid']:.2f} ({summary['score_samples']} samples)"},
        {"": "KID-style distance", "value": f"{summary['kid']:.4f} +- {summary['kid_std']:.4f}"},
        {"": "feature space", "value": summary["features"]},
        {"": "final diversity", "value": f"{summary['final_diversity']:.2f} (1 = as diverse as the real images)"},
    ]
    warning = ""
    if summary["collapse_epochs"]:
        warning = (f"<p style='color:#b00'><b>Mode collapse warning:</b> diversity fell below 0.5 in epochs "
                   f"{', '.join(map(str, summary['collapse_epochs'][:20]))}.</p>")
    return facts, warning
