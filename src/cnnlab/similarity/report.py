"""The similarity run's report.html, rebuilt from the files in its folder."""

from __future__ import annotations

import html
import json

from cnnlab.report.html import image, page, table
from cnnlab.report.plots import plot_history
from cnnlab.train import RunDir


def retrieval_rows(rows: list[dict]) -> list[dict]:
    return [{"embedding": r["embedding"], "dim": r["dim"], "Recall@1": f"{r['recall@1']:.2%}",
             "Recall@5": f"{r['recall@5']:.2%}", "Recall@10": f"{r['recall@10']:.2%}", "mAP@R": f"{r['map@r']:.3f}"}
            for r in rows]


def write_report(run: RunDir) -> None:
    config, summary = run.read_json("config.json"), run.read_json("summary.json")
    history = run.read_metrics()
    title = f"{config['method']} similarity on {config['model']} features, {config['data']['name']}"
    plot_history(history, run.path / "history.png", title)
    facts = [
        {"": "method", "value": f"{summary['method']} ({summary['loss']})"},
        {"": "parameters", "value": f"{summary['params']:,}"},
        {"": "training time", "value": f"{summary['train_seconds']:.1f} s, {summary['epochs']} epochs "
                                       f"({summary['status']})"},
        {"": "validation accuracy",
         "value": f"{summary['final_val_acc']:.2%} (" + ("pairs right at 0.5" if config["method"] == "siamese"
                                                         else "in-batch nearest neighbour of the same class") + ")"},
    ]
    shown = [(name, file, alt) for name, file, alt in (
        ("Retrieval: Recall@k", "retrieval.png", "recall at k"),
        ("Test pairs: actual vs predicted similarity", "pairs.png", "pairs"),
        ("Similarity to two classes", "two-classes.png", "two classes"),
        ("t-SNE of the embeddings", "tsne.png", "t-SNE")) if (run.path / file).is_file()]
    sections = [
        ("Summary", table(facts)),
        ("Retrieval (test images searched among the training images)", table(retrieval_rows(summary["retrieval"]))),
        ("Training curves", image(run.path / "history.png", "loss and accuracy")),
        *[(name, image(run.path / file, alt)) for name, file, alt in shown],
        ("Per-epoch metrics", table(history)),
        ("Configuration", f"<pre>{html.escape(json.dumps(config, indent=2))}</pre>"),
    ]
    (run.path / "report.html").write_text(page(title, sections))
