"""The root command: `cnnlab <task> <action> [options]`. Each task folder owns its commands."""

from __future__ import annotations

import os
import sys

import typer

from cnnlab.classify.cli import app as classify_app
from cnnlab.classify.cli import quickstart
from cnnlab.console import console
from cnnlab.data.cli import app as data_app
from cnnlab.errors import CnnlabError
from cnnlab.explain.cli import app as explain_app
from cnnlab.generate.cli import app as generate_app
from cnnlab.localize.cli import app as localize_app
from cnnlab.models.cli import app as models_app
from cnnlab.segment.cli import app as segment_app
from cnnlab.serve.cli import serve
from cnnlab.session import Session, session
from cnnlab.similarity.cli import app as similarity_app
from cnnlab.tasks import PREDICTING

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=True,
                  help="cnnlab: a convolutional-network vision lab.")
app.add_typer(classify_app, name="classify", help="Train, evaluate, predict, compare and sweep image classifiers.")
app.add_typer(segment_app, name="segment", help="U-Net segmentation: train, predict, VIA masks.")
app.add_typer(localize_app, name="localize", help="Localize and detect objects: class + box heads, grid detector.")
app.add_typer(similarity_app, name="similarity",
              help="Similar-image search: Siamese and metric-learning training, faiss index, query, t-SNE.")
app.add_typer(generate_app, name="generate", help="DCGAN: train, sample, invert images, interpolate latents.")
app.add_typer(explain_app, name="explain",
              help="Look inside a CNN: filters, pooling, a layer's cost, feature maps and Grad-CAM of a run.")
app.add_typer(models_app, name="models", help="The model zoo: list models, summarise one.")
app.add_typer(data_app, name="data", help="Datasets: list them, download the official files.")
app.command("quickstart")(quickstart)
app.command("serve")(serve)


def _version(value: bool) -> None:
    if value:
        from cnnlab import __version__

        console.print(f"cnnlab {__version__}")
        raise typer.Exit()


@app.callback()
def root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="print the version and exit")) -> None:
    """cnnlab: a convolutional-network vision lab."""


runs_app = typer.Typer(no_args_is_help=True)
app.add_typer(runs_app, name="runs", help="Every run under a runs folder: list them, show one.")


@runs_app.command("list")
def runs_list(runs_dir: str = typer.Option("runs", help="the folder holding <task>/<name>/ run folders"),
              task: str = typer.Option(None, help="classify, similarity, segment, generate or localize"),
              as_json: bool = typer.Option(False, "--json", help="print the rows as JSON")) -> None:
    """A table of every run: task, name, model, data, headline metric, epochs, training time, status."""
    import json

    from cnnlab.cliutil import print_table
    from cnnlab.runs import list_runs

    rows = list_runs(runs_dir, task)
    if as_json:
        print(json.dumps([r.to_dict() for r in rows], indent=2))
        return
    if not rows:
        console.print(f"no runs in {runs_dir}")
        return
    print_table([{"task": r.task, "name": r.name, "model": r.model, "data": r.data, "metric": r.metric,
                  "epochs": r.epochs, "seconds": "" if r.seconds is None else f"{r.seconds:.1f}", "status": r.status}
                 for r in rows], f"{len(rows)} run{'s' if len(rows) != 1 else ''} in {runs_dir}")


@runs_app.command("show")
def runs_show(run: str = typer.Argument(..., help="a run folder")) -> None:
    """One run's row, settings and summary."""
    from cnnlab.runs import describe, task_of
    from cnnlab.train.run import RunDir

    folder = RunDir.open(run)
    row = describe(folder.path, task_of(folder.path))
    console.print(f"{row.task} run {row.name}: {row.model} on {row.data}, {row.epochs} epochs, {row.status}"
                  + (f", {row.metric}" if row.metric else ""))
    for name in ("config.json", "summary.json"):
        if (folder.path / name).is_file():
            console.print(f"{name}:", style="bold")
            console.print((folder.path / name).read_text().strip())


@app.command("report")
def report(run: str = typer.Argument(..., help="a run folder")) -> None:
    """Rebuild a run's plots and report.html from its files (a run of any task)."""
    from importlib import import_module

    from cnnlab.runs import task_of
    from cnnlab.train.run import RunDir

    folder = RunDir.open(run)
    task = task_of(folder.path)
    folder.check_task(task)  # a damaged marker is an error here, not a guess from the parent folder
    import_module(f"cnnlab.{task}.report").write_report(folder)
    console.print(f"wrote {folder.path / 'report.html'}")


@app.command("export")
def export(run: str = typer.Argument(..., help="a classify, segment, localize or similarity run folder"),
           fmt: str = typer.Option("onnx", "--format", help="onnx (run by ONNX Runtime) or safetensors (weights + "
                                   "a JSON that rebuilds the model)"),
           out: str = typer.Option(None, help="the file to write (default RUN/export/model.FORMAT; never replaced)"),
           opset: int = typer.Option(18, help="ONNX opset"),
           dynamic_batch: bool = typer.Option(True, help="ONNX: any batch size (else batch 1)")) -> None:
    """Take a trained model out: ONNX or safetensors, checked against the run's model on its held-out images."""
    from importlib import import_module

    from cnnlab.runs import task_of
    from cnnlab.train.run import RunDir

    folder = RunDir.open(run)
    task = task_of(folder.path)
    if task not in PREDICTING:
        raise CnnlabError(f"{folder.path} is a {task} run; export takes {', '.join(PREDICTING)} runs")
    folder.check_task(task)
    done = import_module(f"cnnlab.{task}.export").export_run(folder.path, fmt, out, opset=opset,
                                                             dynamic_batch=dynamic_batch)
    console.print(f"wrote {done['path']}: {done['said']} ({done['runtime']})")


def _parser_exit(exc: Exception) -> None:
    """Exit for an error of the option parser (click, which newer typer versions carry inside under another
    module name, so the kinds are told by class name): a bad option or argument in one line, as our own
    errors, and where to look; `cnnlab` or `cnnlab TASK` alone shows the help. Returns when `exc` is not one."""
    from cnnlab.cliutil import error_kinds

    kinds = error_kinds(exc)
    if "NoArgsIsHelpError" in kinds or ("UsageError" not in kinds and "ClickException" in kinds):
        exc.show()
        sys.exit(exc.exit_code)
    if "UsageError" in kinds:
        where = f" (see: {exc.ctx.command_path} --help)" if getattr(exc, "ctx", None) is not None else ""
        console.print("error:", style="bold red", end=" ")
        message = exc.format_message().replace("Value error, ", "")  # the parser's wording of a bad choice
        console.print(message + where, soft_wrap=True, markup=False)
        sys.exit(exc.exit_code)
    if "Abort" in kinds:  # the parser's name for Ctrl-C
        raise KeyboardInterrupt from exc


def main() -> None:
    with session() as made:  # what this command starts: a start that fails leaves no run folder behind
        try:
            code = _run(made)
        except SystemExit as exc:
            if exc.code not in (0, None):
                made.discard_failed_starts()
            raise
    if isinstance(code, int) and code:  # the parser's own exits (e.g. --help) return their code here
        sys.exit(code)


def _run(made: Session) -> int | None:
    """The command, every way it can end but success turned into a message and an exit status."""
    try:
        try:
            return app(standalone_mode=False)  # parser errors come here too, so they read like ours
        except Exception as exc:
            if not isinstance(exc, CnnlabError):
                _parser_exit(exc)
            raise
    except CnnlabError as exc:
        made.discard_failed_starts()
        console.print("error:", style="bold red", end=" ")
        console.print(str(exc), soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        made.discard_failed_starts()
        console.print("interrupted", style="yellow")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # a bug of ours: say so in one line; CNNLAB_DEBUG=1 shows the traceback
        made.discard_failed_starts()
        if os.environ.get("CNNLAB_DEBUG"):
            raise
        console.print("internal error:", style="bold red", end=" ")
        console.print(f"{type(exc).__name__}: {exc}. This is a cnnlab bug; run again with CNNLAB_DEBUG=1 for the "
                      "details and report them.", soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
