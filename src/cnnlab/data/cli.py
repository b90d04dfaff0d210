"""`cnnlab data ...`: list datasets, download official files, audit a data set."""

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


@app.command("audit")
def audit(data: str = typer.Option(..., "--data", help="dataset name (digits, cifar10, flowers17, ...) or folder:PATH"),
          data_dir: str = typer.Option(None, "--data-dir", help="folder with the dataset's official files"),
          out: str = typer.Option(None, help="folder for audit.json and report.html (default: runs/audit/NAME)"),
          fail_on: str = typer.Option(None, help="exit 1 when the audit finds any of: leakage, duplicates, "
                                      "unreadable (a comma-separated list)"),
          seed: int = typer.Option(0, help="the split seed, as the train command's --seed")) -> None:
    """Counts, sizes, modes, unreadable files, exact and near duplicates and leakage across the splits that
    training would use; audit.json, report.html and an exit code for scripts."""
    from pathlib import Path

    from cnnlab.checks import check_number
    from cnnlab.cliutil import print_table
    from cnnlab.data.audit import audit as run_audit
    from cnnlab.data.audit import check_fail_on, failures
    from cnnlab.errors import DataError

    kinds = check_fail_on(fail_on)
    check_number("seed", seed, low=0, high=2**32 - 1, integer=True)
    name = (Path(data.removeprefix("folder:")).expanduser().resolve().name if data.startswith("folder:") else
            data.replace("/", "-")) or "data"
    folder = Path(out) if out else Path("runs") / "audit" / name
    if folder.exists() and not folder.is_dir():
        raise DataError(f"--out {folder} is a file; give a folder for audit.json and report.html")
    result = run_audit(data, data_dir, folder, seed)
    leak = result["leakage"]
    print_table([{"images": result["images"], **{k: v for k, v in result["splits"].items()},
                  "sizes": result["distinct_sizes"], "unreadable": len(result["unreadable"]),
                  "exact pairs": result["exact_duplicates"], "near pairs": result["near_duplicates"],
                  "leaked val": leak["val_images"], "leaked test": leak["test_images"],
                  "seconds": result["seconds"]}], f"audit of {data}")
    console.print(f"wrote {folder / 'report.html'} and {folder / 'audit.json'}")
    found = failures(result, kinds)
    if found:
        console.print("[red]audit failed: " + "; ".join(found) + "[/red]")
        raise typer.Exit(1)
