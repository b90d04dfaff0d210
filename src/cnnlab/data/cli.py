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
def audit(data: str = typer.Option(..., "--data", help="what the task's train command takes: a dataset name or "
                                   "folder:PATH (classify); isbi:PATH, oxford-pet:PATH or folder:PATH with images/ "
                                   "and masks/ (segment); voc:, oxford-pet:, csv:, yolo:, coco: or via:PATH "
                                   "(localize)"),
          task: str = typer.Option("classify", help="what the data is for: classify (labelled images), segment "
                                   "(masks) or localize (boxes)"),
          data_dir: str = typer.Option(None, "--data-dir", help="folder with the dataset's official files"),
          out: str = typer.Option(None, help="folder for audit.json and report.html (default: runs/audit/NAME)"),
          fail_on: str = typer.Option(None, help="exit 1 when the audit finds any of: leakage, duplicates, "
                                      "unreadable, annotations (stray mask values, bad or doubled boxes...), a "
                                      "comma-separated list"),
          seed: int = typer.Option(0, help="the split seed, as the train command's --seed"),
          label: str = typer.Option("species", help="oxford-pet boxes: species or breed, as localize train's"),
          attribute: str = typer.Option("class", help="via boxes: the region attribute naming the class")) -> None:
    """Counts, sizes, modes, unreadable files, exact and near duplicates and leakage across the splits that
    training would use; for masks the value census, for boxes every bad box; audit.json, report.html and an exit
    code for scripts."""
    from pathlib import Path

    from cnnlab.checks import check_number
    from cnnlab.cliutil import print_table
    from cnnlab.data.audit import annotation_problems, check_fail_on, check_task, failures
    from cnnlab.data.audit import audit as run_audit
    from cnnlab.errors import DataError

    kinds = check_fail_on(fail_on)
    check_task(task, data)
    check_number("seed", seed, low=0, high=2**32 - 1, integer=True)
    prefix, _, path = data.partition(":")
    name = (f"{'' if prefix == 'folder' else prefix + '-'}{Path(path).expanduser().resolve().name}" if path
            else data.replace("/", "-")) or "data"
    folder = Path(out) if out else Path("runs") / "audit" / name
    if folder.exists() and not folder.is_dir():
        raise DataError(f"--out {folder} is a file; give a folder for audit.json and report.html")
    result = run_audit(data, data_dir, folder, seed, task=task, label=label, attribute=attribute)
    leak = result["leakage"]
    row = {"images": result["images"], **{k: v for k, v in result["splits"].items() if v or k != "test"},
           "sizes": result["distinct_sizes"], "unreadable": len(result["unreadable"]),
           "exact pairs": result["exact_duplicates"], "near pairs": result["near_duplicates"],
           "leaked val": leak["val_images"], "leaked test": leak["test_images"]}
    if task != "classify":
        row["annotation problems"] = annotation_problems(result)
    print_table([{**row, "seconds": result["seconds"]}], f"audit of {data}")
    console.print(f"wrote {folder / 'report.html'} and {folder / 'audit.json'}")
    found = failures(result, kinds)
    if found:
        console.print("[red]audit failed: " + "; ".join(found) + "[/red]")
        raise typer.Exit(1)
