"""The segmentation run's curves and report.html, rebuilt from the files in its folder."""

from __future__ import annotations

from cnnlab.atomic import replacing, write_text
from cnnlab.errors import RunFolderError
from cnnlab.report.html import image, page, table
from cnnlab.report.plots import plot_history
from cnnlab.train.run import RunDir


def write_report(run: RunDir) -> None:
    """history.png and report.html from config.json, summary.json and metrics.jsonl; everything is read and
    checked before a file is replaced."""
    config, summary, history = run.read_json("config.json"), run.read_json("summary.json"), run.read_metrics()
    try:
        title = f"U-Net ({config['encoder']}) on {config['data']}"
        rows = [{k: v for k, v in r.items() if not isinstance(v, list)} for r in history]
        facts = table([{"": k, "value": v} for k, v in summary.items()])
    except (KeyError, TypeError, AttributeError) as exc:
        raise RunFolderError(f"{run.path} is not a finished segment run ({type(exc).__name__}: {exc}); nothing was "
                             "rewritten") from exc
    if not history:
        raise RunFolderError(f"{run.path} has no finished epoch in metrics.jsonl; nothing was rewritten")
    with replacing(run.path / "history.png") as tmp:
        plot_history(history, tmp, title)
    last = sorted((run.path / "epochs").glob("epoch_*.png"))
    write_text(run.path / "report.html", page(title, [
        ("Summary", facts),
        ("Curves", image(run.path / "history.png")),
        ("Validation samples, last epoch", image(last[-1]) if last else ""),
        ("Per-epoch metrics", table(rows))]))
