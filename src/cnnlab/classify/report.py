"""The classification run's plots and report.html, rebuilt from the files in its folder."""

from __future__ import annotations

import html
import json

import numpy as np

from cnnlab.atomic import replacing
from cnnlab.classify.evaluate import per_class_metrics
from cnnlab.classify.interpret import confused_pairs, top_losses_section
from cnnlab.errors import RunFolderError
from cnnlab.report.html import image, page, table
from cnnlab.report.overfit import overfitting_verdict
from cnnlab.report.plots import plot_confusion, plot_history
from cnnlab.train import RunDir


def write_report(run: RunDir, *, model=None, test=None) -> None:
    """Rebuild history.png, confusion.png, top_losses.png and report.html. Everything is read and checked first,
    and each file is written beside its old self and renamed, so a damaged run folder loses nothing it had.
    `model` (best weights) and `test` (the test split) are read from the run folder when not given."""
    try:
        config, summary = run.read_json("config.json"), run.read_json("summary.json")
        history = run.read_metrics()
        confusion = run.read_json("confusion.json")
        title = f"{config['model']} on {config['data']['name']}"
        matrix, classes = np.array(confusion["matrix"]), list(confusion["classes"])
        facts = summary_facts(summary, history)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RunFolderError(f"{run.path} is not a finished classify run (its summary, metrics or confusion files "
                             f"are missing or damaged: {type(exc).__name__}: {exc}); nothing was rewritten") from exc
    with replacing(run.path / "history.png") as tmp:
        plot_history(history, tmp, title, phase_marks(history))
    with replacing(run.path / "confusion.png") as tmp:
        plot_confusion(matrix, classes, tmp, "test set")
    losses, why = top_losses_section(run.path, model, test)
    skipped = summary.get("skipped") or []
    sections = [
        ("Summary", table(facts)),
        ("Training curves", image(run.path / "history.png", "loss and accuracy")),
        ("Confusion matrix (test)", image(run.path / "confusion.png", "confusion matrix")),
        ("Per-class precision, recall and F1 (test)", table(per_class_metrics(matrix, classes)[0])),
        ("Most confused classes (test)", table(confused_pairs(matrix, classes))),
        ("Highest losses (test)", image(run.path / "top_losses.png", "top losses") + table(losses) if not why
         else f"<p class='warn'>not shown: {html.escape(why)}</p>"),
        ("Per-epoch metrics", table(history)),
        ("Configuration", f"<pre>{_pre(config)}</pre>"),
    ]
    if skipped:
        sections.insert(1, (f"Skipped images ({len(skipped)})", table(skipped)))
    with replacing(run.path / "report.html") as tmp:
        tmp.write_text(page(title, sections))


def summary_facts(summary: dict, history: list[dict]) -> list[dict]:
    verdict = overfitting_verdict(history)
    facts = [
        {"": "parameters", "value": f"{summary['params']:,}"},
        {"": "training time",
         "value": f"{summary['train_seconds']:.1f} s ({summary['seconds_per_epoch']:.2f} s/epoch)"},
        {"": "epochs", "value": f"{summary['epochs']} ({summary['status']})"},
        {"": "best validation accuracy", "value": f"{summary['best_val_acc']:.2%} (epoch {summary['best_epoch']})"},
        {"": "final validation accuracy", "value": f"{summary['final_val_acc']:.2%}"},
        {"": "test accuracy (best checkpoint)", "value": f"{summary['test_acc']:.2%}"},
        *([{"": "test balanced accuracy, macro F1", "value": f"{summary['test_balanced_acc']:.2%}, "
                                                            f"{summary['test_macro_f1']:.3f}"}]
          if "test_balanced_acc" in summary else []),
        {"": "overfitting", "value": verdict.text},
    ]
    if summary.get("notes"):
        facts.append({"": "model notes", "value": "; ".join(summary["notes"])})
    return facts


def phase_marks(history: list[dict]) -> dict[int, str]:
    """{last epoch of a phase: name of the next phase} wherever the phase changes."""
    pairs = zip(history, history[1:], strict=False)
    return {a["epoch"]: b["phase"] for a, b in pairs if a.get("phase") != b.get("phase")}


def _pre(obj: dict) -> str:
    return html.escape(json.dumps(obj, indent=2))
