"""The similarity run's report.html, rebuilt from the files in its folder."""

from __future__ import annotations

import html
import json

from cnnlab.atomic import replacing, write_text
from cnnlab.errors import RunFolderError
from cnnlab.report.html import image, page, table
from cnnlab.report.plots import plot_history
from cnnlab.similarity.config import METHODS
from cnnlab.train import RunDir
from cnnlab.train.run import MARKER

CONFIG_KEYS = ("method", "loss", "embedding_dim", "model", "data", "fit")  # in every similarity config.json


def retrieval_rows(rows: list[dict]) -> list[dict]:
    return [{"embedding": r["embedding"], "dim": r["dim"], "Recall@1": f"{r['recall@1']:.2%}",
             "Recall@5": f"{r['recall@5']:.2%}", "Recall@10": f"{r['recall@10']:.2%}", "mAP@R": f"{r['map@r']:.3f}"}
            for r in rows]


def is_similarity_run(run: RunDir) -> bool:
    """Whether `run` is a similarity run: its marker says so or, for a run from before markers, its
    config.json has the similarity fields. Reads two small files and writes nothing."""
    marker = run.path / MARKER
    if marker.is_file():
        try:
            return json.loads(marker.read_text()).get("task") == "similarity"
        except (OSError, ValueError, AttributeError):
            return False
    try:
        config = json.loads(run.config_path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and all(k in config for k in CONFIG_KEYS) and config["method"] in METHODS


def rebuild_report(run: RunDir) -> bool:
    """Rebuild a similarity run's history plot and report.html (`cnnlab report`); False, touching nothing,
    when `run` is not a similarity run. RunFolderError, before any file is written, when a file the
    report needs is missing or damaged."""
    if not is_similarity_run(run):
        return False
    write_report(run)
    return True


def write_report(run: RunDir) -> None:
    """Everything the report needs is read and checked first; the plot and the page are then written
    each to a temporary file and renamed, so that a failure leaves the previous ones."""
    config, summary = run.read_json("config.json"), run.read_json("summary.json")
    try:
        history = run.read_metrics()
        title = (f"{config['method']} similarity on {summary.get('model', config['model'])} features, "
                 f"{config['data']['name']}")
        facts = summary_facts(config, summary)
        retrieval = retrieval_rows(summary["retrieval"])
        held = summary.get("holdout")
        held_section = [] if not held else [(
            f"Held-out classes, never trained on ({', '.join(held['classes'])}): their {held['queries']} test images "
            f"searched among their {held['gallery']} training-split images", table(retrieval_rows(held["retrieval"])))]
        history_png = run.path / "history.png"
        with replacing(history_png) as tmp:  # the suffix tells matplotlib the format
            plot_history(history, tmp, title)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RunFolderError(f"{run.path} lacks what its report needs ({type(exc).__name__}: {exc}); summary.json "
                             "is written when training ends: finish the run with --resume, or train it again") from exc
    shown = [(name, file, alt) for name, file, alt in (
        ("Retrieval: Recall@k", "retrieval.png", "recall at k"),
        ("Test pairs: actual vs predicted similarity", "pairs.png", "pairs"),
        ("Similarity to two classes", "two-classes.png", "two classes"),
        ("t-SNE of the embeddings", "tsne.png", "t-SNE")) if (run.path / file).is_file()]
    sections = [
        ("Summary", table(facts)),
        ("Retrieval (test images searched among the training images)", table(retrieval)),
        *held_section,
        ("Training curves", image(history_png, "loss and accuracy")),
        *[(name, image(run.path / file, alt)) for name, file, alt in shown],
        ("Per-epoch metrics", table(history)),
        ("Configuration", f"<pre>{html.escape(json.dumps(config, indent=2))}</pre>"),
    ]
    report = page(title, sections)
    write_text(run.path / "report.html", report)


def summary_facts(config: dict, summary: dict) -> list[dict]:
    accuracy = "pairs right at 0.5" if config["method"] == "siamese" else "in-batch nearest neighbour of the same class"
    return [
        {"": "method", "value": f"{summary['method']} ({summary['loss']})"},
        {"": "parameters", "value": f"{summary['params']:,}"},
        {"": "training time", "value": f"{summary['train_seconds']:.1f} s, {summary['epochs']} epochs "
                                       f"({summary['status']})"},
        {"": "validation accuracy", "value": f"{summary['final_val_acc']:.2%} ({accuracy})"},
        *([{"": "verdict", "value": summary["verdict"]}] if summary.get("verdict") else []),
        *([{"": "held-out classes", "value": summary["holdout"]["verdict"]}]
          if (summary.get("holdout") or {}).get("verdict") else []),
        {"": "checkpoint used", "value": f"epoch {summary['best_epoch']} of {summary['epochs']}, the best by "
                                         f"{summary.get('selected_by', 'validation loss')}"},
    ]
