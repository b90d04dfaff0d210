"""`cnnlab data ...`: list datasets, download official files."""

from __future__ import annotations

import typer
from rich.table import Table

from cnnlab.console import console
from cnnlab.data.config import default_root

app = typer.Typer(no_args_is_help=True)


@app.command("list")
def list_datasets() -> None:
    """Datasets by name, and where each is looked for by default."""
    from cnnlab.data.datasets import DATASETS

    table = Table("name", "default folder", "what")
    for name in DATASETS:
        doc = (DATASETS.get(name).__doc__ or "").strip().splitlines()[0]
        table.add_row(name, "(built in)" if name == "digits" else str(default_root(name)), doc)
    table.add_row("folder:PATH", "PATH", "any image folder: PATH/<class>/*.jpg, or PATH/train|val|test/<class>/")
    console.print(table)


@app.command("download")
def download(name: str = typer.Argument(..., help="mnist, fashion-mnist, cifar10, cifar100 or flowers17"),
             root: str = typer.Option(None, "--data-dir", help="where to put the files (default: its folder)")) -> None:
    """Download a dataset's official files (needs a network)."""
    from cnnlab.data.download import download_dataset

    folder = download_dataset(name, root)
    console.print(f"{name} is in {folder}; use --data {name} --data-dir {folder}")
