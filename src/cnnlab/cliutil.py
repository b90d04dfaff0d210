"""Small helpers every task's CLI shares: model keyword parsing and result tables."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from cnnlab.console import console
from cnnlab.errors import CnnlabError, DataError


def data_options(default: str):
    """The --data, --data-dir and --image-size options of the commands that read a dataset; `default` is
    the task's dataset (digits for classify, the seed's fashion-mnist for similarity)."""
    return (typer.Option(default, "--data", help="dataset name (digits, mnist, fashion-mnist, cifar10, cifar100, "
                         "flowers17) or folder:PATH"),
            typer.Option(None, "--data-dir", help="folder with the dataset's official files"),
            typer.Option(None, "--image-size", help="resize images to N x N"))


def exit_for(status: str) -> None:
    """Exit status 130 for a run that Ctrl-C interrupted (its last finished epoch kept), as a shell expects."""
    if status == "interrupted":
        sys.exit(130)


def error_kinds(exc: BaseException) -> set[str]:
    """The class names of an exception and its bases: the option parser's errors are told apart by name, since
    newer typer versions carry click inside under another module name."""
    return {c.__name__ for c in type(exc).__mro__}


def _width(columns: list[list[str]]) -> int:
    """The width a table of these columns (header first) needs without cutting a cell: cells plus borders."""
    return sum(max(map(len, c)) + 3 for c in columns) + 1


def print_table(rows: list[dict], title: str = "") -> None:
    """A table of rows; when it is wider than the terminal it is turned (a row per field, a column per row),
    and when that is still too wide each row is printed as its own field: value list, so no cell is cut."""
    if not rows:
        return
    keys = list(rows[0].keys())
    cells = [[f"{v:.4f}" if isinstance(v, float) else str(v) for v in (row.get(k, "") for k in keys)] for row in rows]
    if _width([[k, *(c[i] for c in cells)] for i, k in enumerate(keys)]) <= console.width:
        table = Table(*keys, title=title)
        for row in cells:
            table.add_row(*map(escape, row))
        console.print(table)
    elif _width([keys, *cells]) <= console.width:  # turned: the first field heads each row's column
        table = Table(escape(keys[0]), *(escape(c[0]) for c in cells), title=title)
        for i, key in enumerate(keys[1:], 1):
            table.add_row(escape(key), *(escape(c[i]) for c in cells))
        console.print(table)
    else:
        if title:
            console.print(title, style="bold")
        for row in cells:
            console.print(f"{keys[0]}: {row[0]}", style="bold", markup=False)
            for key, value in zip(keys[1:], row[1:], strict=True):
                console.print(f"  {key}: {value}", markup=False)


def fresh_path(path: str | Path) -> Path:
    """`path`, or when something is there already, the first free NAME-2.EXT, NAME-3.EXT, ...: an output never
    replaces a file (a photo given as input, an earlier result) that the user did not ask to replace."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return path
    for n in range(2, 10_000):
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        if not candidate.exists() and not candidate.is_symlink():
            return candidate
    raise CnnlabError(f"{path} and 9,998 numbered copies of it exist; pass another --out")


def show_figures(rows: list[dict], written: list[Path], title: str) -> None:
    """What a command that draws a figure per image says: each image it could not read (a row with "error"), the
    table of the others, every file written; DataError when no image could be read."""
    for row in (r for r in rows if "error" in r):
        console.print(f"{row['image']}: {row['error']}", style="yellow")
    print_table([r for r in rows if "error" not in r], title)
    for path in written:
        console.print(f"wrote {path}")
    if not written:
        raise DataError("no image could be read; nothing was written")


def add_lr_find(app: typer.Typer, room: str, example: str) -> None:
    """Give `app` (the room's commands, its `train` among them) `cnnlab ROOM lr-find`: the learning-rate range test
    with every option of the room's train command, through `cnnlab.ROOM.options.range_test`."""
    help_text = (f"The learning-rate range test (fastai's lr_find) for `cnnlab {room} train` with the same options: "
                 "loss against the learning rate, the suggested rate marked, and the option to paste. Every train "
                 f"option is taken, e.g. {example}.")

    @app.command("lr-find", help=help_text,
                 context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def lr_find(ctx: typer.Context,
                out: str = typer.Option(None, help="folder for lr_find.png and lr_find.json (default: "
                                        f"RUNS_DIR/lr-find/{room}-NAME, NAME the run's)"),
                steps: int = typer.Option(100, help="steps of the range test (the rate grows from 1e-7 to 10)")
                ) -> None:
        import importlib

        import typer.main

        from cnnlab.checks import check_number
        from cnnlab.options import Options
        from cnnlab.train.lr_find import run_range_test

        check_number("steps", steps, low=10, high=100_000, integer=True)
        if out is not None and Path(out).exists() and not Path(out).is_dir():
            raise DataError(f"--out {out} is a file; give a folder for lr_find.png and lr_find.json")
        command = typer.main.get_command(app).commands["train"]
        with command.make_context("train", list(ctx.args), parent=ctx.parent) as sub:
            setup = importlib.import_module(f"cnnlab.{room}.options").range_test(Options.from_cli(sub))
        result, folder, line = run_range_test(setup, out, steps)
        if result.flat:
            console.print("the loss did not fall within the test's steps: the suggestion is a tenth of the rate "
                          "where it began to climb (more --steps, or a pretrained backbone, give a fall to read)",
                          style="yellow")
        console.print(f"suggested learning rate {result.suggestion:.2g} (lowest loss at {result.minimum:.2g}); "
                      f"wrote {folder / 'lr_find.png'}\npaste: {line}")
