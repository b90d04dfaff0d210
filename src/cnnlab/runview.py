"""A trained run seen from Python: what `cnnlab.<task>.train(...)` returns and `cnnlab.open_run(PATH)` opens.

    run = cnnlab.classify.train(data="digits", epochs=5)
    run.summary["test_acc"], run.history[-1]["val_loss"], run.paths["report"]
    run.plot()                 # the curves, a matplotlib Figure
    run.load().predict(images) # the predictor of cnnlab.load
    run                        # in Jupyter: the headline, the summary and the curves inline

Everything is read from the run folder's files when asked, so a run still training, or one from another
machine, reads the same; a damaged file reads as empty, never as an exception."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

from cnnlab.errors import RunFolderError

SKIP = ("epoch", "lr", "seconds", "phase", "step", "steps")
FILES = {"config": "config.json", "summary": "summary.json", "metrics": "metrics.jsonl", "results": "results.csv",
         "log": "log.txt", "report": "report.html", "best": "checkpoints/best.pt", "last": "checkpoints/last.pt"}


class Run:
    """One run folder, read from its files (see the module's docstring)."""

    def __init__(self, path: str | Path, *, interrupted: bool = False) -> None:
        from cnnlab.runs import task_of

        self.interrupted = interrupted  # stopped by Ctrl-C in this process (its folder says only "unfinished")
        self.path = Path(path)
        if not (self.path / "config.json").is_file():
            raise RunFolderError(f"{self.path} is not a cnnlab run folder (no config.json)")
        self.task = task_of(self.path)
        self.name = self.path.name

    def _json(self, name: str) -> dict:
        try:
            value = json.loads((self.path / name).read_text())
        except (OSError, ValueError):
            return {}
        return value if isinstance(value, dict) else {}

    @property
    def config(self) -> dict:
        """config.json: every setting of the run."""
        return self._json("config.json")

    @property
    def summary(self) -> dict:
        """summary.json: the results (test metrics, timing, status); empty until the run has one."""
        return self._json("summary.json")

    @property
    def history(self) -> list[dict]:
        """One dict per finished epoch (metrics.jsonl)."""
        from cnnlab.runs import _epochs

        return _epochs(self.path)

    @property
    def status(self) -> str:
        """finished, early-stopped, budget-spent, diverged, interrupted, unfinished or empty."""
        return self._status(self._row(), self.summary)

    def _status(self, row, summary: dict) -> str:
        return "interrupted" if self.interrupted and not summary else row.status

    @property
    def paths(self) -> dict[str, Path]:
        """The run's files that exist: config, summary, metrics, results, log, report, best and last checkpoints,
        every picture at the top of the folder by its name (history, confusion, ...), and last_epoch: the newest
        per-epoch picture (boxes, masks or GAN samples)."""
        found = {key: self.path / name for key, name in FILES.items() if (self.path / name).is_file()}
        for png in sorted(self.path.glob("*.png")):
            found.setdefault(png.stem, png)
        shown = sorted((self.path / "epochs").glob("*.png"))  # the per-epoch pictures (boxes, masks, GAN samples)
        if shown:
            found["last_epoch"] = shown[-1]
        return found

    def _row(self):
        from cnnlab.runs import describe

        return describe(self.path, self.task)

    def load(self, device: str = "auto"):
        """The run's predictor (cnnlab.load): `.predict(paths | PIL images | arrays)`."""
        from cnnlab.api import load

        return load(self.path, device=device)

    def curves(self, history: list[dict] | None = None) -> dict[str, dict[str, list[tuple[int, float]]]]:
        """The numbers of the history (the run's, or `history` already read) by metric:
        {"loss": {"train": [(epoch, value), ...], "val": [...]}, ...}."""
        out: dict[str, dict[str, list[tuple[int, float]]]] = {}
        for i, row in enumerate(self.history if history is None else history):
            epoch = row.get("epoch", i + 1)
            for key, value in row.items():
                if key in SKIP or isinstance(value, bool) or not isinstance(value, int | float):
                    continue
                split, _, metric = key.partition("_")
                if split not in ("train", "val") or not metric:
                    split, metric = "", key
                out.setdefault(metric, {}).setdefault(split, []).append((epoch, float(value)))
        return out

    def plot(self, metrics: str | list[str] | None = None, path: str | Path | None = None):
        """The training curves, train beside validation, one panel per metric (all of them, or `metrics`); a
        dashed line where the training phase changed. Returns the matplotlib Figure; `path` also saves it."""
        from matplotlib.figure import Figure

        history = self.history
        curves = self.curves(history)
        metrics = [metrics] if isinstance(metrics, str) else metrics
        names = [m for m in (metrics or curves) if m in curves]
        if metrics and len(names) < len(metrics):
            missing = sorted(set(metrics) - set(names))
            raise RunFolderError(f"{self.path} has no curve {', '.join(missing)}; it has {', '.join(curves) or 'none'}")
        cols = min(3, max(1, len(names)))
        rows = max(1, -(-len(names) // cols))
        fig = Figure(figsize=(4.2 * cols, 3.2 * rows), layout="constrained")
        changes = [r.get("epoch", 0) for a, r in zip(history, history[1:], strict=False)
                   if r.get("phase") != a.get("phase")]
        for i, name in enumerate(names):
            ax = fig.add_subplot(rows, cols, i + 1)
            for split, points in curves[name].items():
                ax.plot([e for e, _ in points], [v for _, v in points], "-o", ms=3, label=split or name)
            for epoch in changes:
                ax.axvline(epoch - 0.5, color="grey", ls="--", lw=1)
            ax.set_title(name)
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        if not names:
            fig.text(0.5, 0.5, "no finished epoch yet", ha="center")
        fig.suptitle(f"{self.task} run {self.name}")
        if path is not None:
            fig.savefig(path, dpi=110)
        return fig

    def __repr__(self) -> str:
        row = self._row()
        epochs = f"{row.epochs} epoch{'s' if row.epochs != 1 else ''}"
        said = ", ".join(x for x in (row.metric, epochs, self._status(row, self.summary)) if x)
        return f"Run({self.task} {self.name!r}: {said}; {self.path})"

    def _repr_html_(self) -> str:
        """The report's summary for Jupyter: headline, the summary's numbers, the curves, a link to report.html."""
        row, summary = self._row(), self.summary
        esc = html.escape
        cells = [("model", row.model), ("data", row.data), ("result", row.metric), ("epochs", row.epochs),
                 ("training seconds", "" if row.seconds is None else f"{row.seconds:.1f}"),
                 ("status", self._status(row, summary))]
        cells += [(k, f"{v:.4g}" if isinstance(v, float) else v) for k, v in summary.items()
                  if isinstance(v, int | float) and not isinstance(v, bool) and k not in dict(cells)]
        table = "".join(f"<tr><th style='text-align:left'>{esc(str(k))}</th><td>{esc(str(v))}</td></tr>"
                        for k, v in cells if v != "")
        picture = ""
        if row.epochs:  # the finished epochs in metrics.jsonl
            buffer = io.BytesIO()
            self.plot().savefig(buffer, format="png", dpi=80)
            data = base64.b64encode(buffer.getvalue()).decode()
            picture = f"<img src='data:image/png;base64,{data}' style='max-width:100%'>"
        report = self.path / "report.html"
        link = f"<p>report: <code>{esc(str(report))}</code></p>" if report.is_file() else ""
        notes = "".join(f"<li>{esc(str(n))}</li>" for n in summary.get("notes", []) or [] if n)
        return (f"<div><b>{esc(self.task)} run {esc(self.name)}</b> <code>{esc(str(self.path))}</code>"
                f"<table>{table}</table>{'<ul>' + notes + '</ul>' if notes else ''}{picture}{link}</div>")
