"""`cnnlab similarity ...`: train, pairs-preview, index, query, evaluate, tsne, two-classes."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from cnnlab.checks import check_device, check_number
from cnnlab.cliutil import add_lr_find, data_options, exit_for, fresh_path, print_table
from cnnlab.console import console, err_console
from cnnlab.data.config import DataConfig
from cnnlab.errors import ConfigError
from cnnlab.options import Options
from cnnlab.similarity.defaults import AUGMENT_DEFAULT, AUTO, FIT_DEFAULTS, SMALL_IMAGE_SIDE
from cnnlab.train.options import HELP as TRAINING_OPTIONS
from cnnlab.train.options import training_options

app = typer.Typer(no_args_is_help=True)

DATA, DATA_DIR, IMAGE_SIZE = data_options("fashion-mnist")
MAX_PREVIEW_PAIRS = 200  # rows of one preview figure
MAX_QUERY_K = 10_000  # neighbours per query (the index also holds k to its size)


def check_count(flag: str, value: int, high: int) -> None:
    """ConfigError unless `value` is a whole number from 1 to `high` (for the short options check_number
    would name as --n, --k)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise ConfigError(f"{flag} must be a whole number from 1 to {high:,}, got {value!r}")


@app.command("train")
@training_options(*(o for o in TRAINING_OPTIONS if o not in ("tta", "label_smoothing")), defaults=FIT_DEFAULTS,
                  helps={"patience": "early stopping after N epochs without a better --select-by score"})
def train(
    ctx: typer.Context, data: str = DATA, data_dir: str = DATA_DIR, image_size: int = IMAGE_SIZE,
    channels: int = typer.Option(None, "--channels", help="convert images to 1 or 3 channels"),
    val_fraction: float = typer.Option(0.1), train_per_class: int = typer.Option(None),
    drop_leaks: bool = typer.Option(False, help="leave out validation and test images that duplicate a training "
                                    "image (exact or near, as `cnnlab data audit` finds them)"),
    model: str = typer.Option(AUTO, "--model", help="feature extractor: a zoo name or timm:NAME; auto: airnet "
                              f"from scratch for images up to {SMALL_IMAGE_SIDE} px, pretrained EfficientNet-Lite0 "
                              "fine-tuned for photos"),
    model_arg: list[str] = typer.Option([], "--model-arg", help="builder keyword KEY=VALUE, repeatable"),
    pretrained: bool = typer.Option(False), weights: str = typer.Option(None), input_size: int = typer.Option(None),
    method: str = typer.Option("siamese", help="siamese (the seed's pair classifier) or metric (an embedding)"),
    loss: str = typer.Option("multi-similarity", help="metric: contrastive, triplet or multi-similarity (siamese "
                             "with --rank: the ranking loss of the shared features)"),
    rank: bool = typer.Option(True, help="siamese: also train the shared features, which search ranks by, with "
                              "--loss (--no-rank: the seed's pair loss alone)"),
    embedding_dim: int = typer.Option(128, help="metric: embedding size"),
    pairs: int = typer.Option(None, help="siamese: pairs per epoch, half same-class (default: one per image)"),
    augment: str = typer.Option(AUGMENT_DEFAULT, help="none, standard, all, or e.g. hflip,rotation=15"),
    per_class: int = typer.Option(0, help="metric: images of each class drawn into a batch together, so every "
                                  "image has positives in its batch, e.g. 4 for data with many classes (0: plain "
                                  "shuffled batches)"),
    holdout_classes: int = typer.Option(0, help="never train on the last N classes; the report judges search on "
                                        "them apart (new kinds of images)"),
    select_by: str = typer.Option("map@r", help="the checkpoint kept (and what --patience watches): the best "
                                  "validation map@r, recall@1 (the validation images searched among themselves) "
                                  "or loss"),
    name: str = typer.Option(None, help="run name (default <method>-<model>-<data>)"),
    runs_dir: str = typer.Option("runs", help="runs go to RUNS_DIR/similarity/NAME"),
    resume: bool = typer.Option(False, help="continue the run NAME from its last checkpoint"),
    overwrite: bool = typer.Option(False, help="replace an existing run folder"),
    train_options: dict | None = None,
) -> None:
    """Train a Siamese network or a metric-learning embedding; writes retrieval metrics and plots."""
    from cnnlab.similarity.options import train as train_run

    exit_for(train_run(Options.from_cli(ctx)))


add_lr_find(app, "similarity", "cnnlab similarity lr-find --data fashion-mnist --method siamese")


@app.command("pairs-preview")
def pairs_preview(data: str = DATA, data_dir: str = DATA_DIR, image_size: int = IMAGE_SIZE,
                  n: int = typer.Option(12, "-n", help="number of pairs"), seed: int = typer.Option(0),
                  out: str = typer.Option("pairs-preview.png")) -> None:
    """A PNG of generated training pairs with their targets (1 same class, 0 different)."""
    import torch

    from cnnlab.data.datasets import load_dataset
    from cnnlab.similarity.pairs import make_pairs
    from cnnlab.similarity.plots import plot_pairs, to_hwc

    check_count("-n", n, MAX_PREVIEW_PAIRS)
    check_number("seed", seed, low=0, high=2**32 - 1, integer=True)
    data_config = DataConfig(data, data_dir, image_size)
    train_set = load_dataset(data_config).train
    a, b, target = make_pairs(train_set.labels, n, torch.Generator().manual_seed(seed))
    name = train_set.classes
    names = [(name[train_set.labels[i]], name[train_set.labels[j]]) for i, j in zip(a, b, strict=True)]
    out = fresh_path(out)
    plot_pairs(to_hwc(train_set.images[a]), to_hwc(train_set.images[b]), target.numpy(), out, names=names)
    console.print(f"wrote {out}: {int(target.sum())} same-class and {int(n - target.sum())} different-class pairs")


@app.command("index")
def index(
    model: str = typer.Argument(..., help="a similarity run folder, 'pretrained' (ImageNet features of "
                                "EfficientNet-Lite0, no training; pretrained:ARCH for another timm CNN) or 'pixels'"),
    images: str = typer.Option(..., "--data", "--images", help="dataset name, folder:PATH, or a folder of images "
                               "(--images: its old name)"),
    out: str = typer.Option(..., "--out", help="the index folder"),
    data_dir: str = DATA_DIR, split: str = typer.Option("all", help="all, train, val or test (datasets)"),
    kind: str = typer.Option("auto", help="flat (exact), hnsw or ivf (approximate), auto: exact below 100,000"),
    append: bool = typer.Option(False, help="add to the index already in --out"),
    image_size: int = typer.Option(None, help="read folder images at N x N (pixels: the vector size)"),
    device: str = typer.Option("auto"),
) -> None:
    """Embed a gallery of images and store it, searchable, in an index folder."""
    from cnnlab.index.search import build_index, check_index_options
    from cnnlab.train.progress import counter, make_progress

    check_index_options(kind=kind, split=split, image_size=image_size)
    check_device(device)

    with make_progress() as progress:
        report = build_index(model, images, out, data_dir=data_dir, split=split, kind=kind, append=append,
                             image_size=image_size, device=device,
                             progress=counter(progress, "embedding images", console.print))
    for path, reason in report.skipped:
        console.print(f"skipped {path}: {reason}", style="yellow")
    idx = report.index
    console.print(f"{'added' if append else 'indexed'} {report.added} images in {report.seconds:.1f} s; {out} holds "
                  f"{len(idx)} {idx.dim}-d vectors ({idx.kind}), {len(idx.classes)} classes")


@app.command("query")
def query(
    index_dir: str = typer.Argument(..., help="an index folder"),
    images: list[str] = typer.Argument(..., help="image files or folders"),
    k: int = typer.Option(10, "-k", help="neighbours per query"),
    out: str = typer.Option("query.png", help="montage PNG (query, then neighbours with scores)"),
    model: str = typer.Option(None, help="check that this run is the model the index was built with"),
    as_json: bool = typer.Option(False, "--json", help="print the neighbours as JSON"),
    device: str = typer.Option("auto"),
) -> None:
    """Nearest gallery images of each query image, with cosine scores; writes a montage."""
    from cnnlab.data.folders import collect_image_paths
    from cnnlab.index.search import Searcher
    from cnnlab.similarity.plots import save_montage

    check_count("-k", k, MAX_QUERY_K)
    check_device(device)

    searcher = Searcher(index_dir, device=device, model=model)
    paths = collect_image_paths(images)
    queries = [searcher.read(p) for p in paths]
    results = searcher.search(queries, k)
    if as_json:
        print(json.dumps([{"query": str(p), "verdict": searcher.verdict(row), "neighbours": [n.to_dict() for n in row]}
                          for p, row in zip(paths, results, strict=True)], indent=2))
    else:
        for path, row in zip(paths, results, strict=True):
            print_table([{"rank": r + 1, "id": n.id, "match": "" if n.match is None else f"{n.match:.0%}",
                          "cosine": f"{n.score:.3f}", "label": n.label or "", "source": n.path or ""}
                         for r, n in enumerate(row)], f"{path}: {searcher.verdict(row) or 'neighbours'}")
    thumbs = searcher.index
    montage = [[(thumbs.thumbnail(n.id), f"{n.label or ''} {n.caption()}") for n in row] for row in results]
    out = fresh_path(out)  # never over a query image or an earlier montage
    save_montage([q.permute(1, 2, 0).numpy() for q in queries], montage, out, [p.name for p in paths])
    (err_console if as_json else console).print(f"wrote {out}")  # with --json, stdout is JSON alone


@app.command("evaluate")
def evaluate(
    runs: list[str] = typer.Argument(..., help="similarity run folders trained on the same data"),
    out: str = typer.Option("runs/similarity/evaluation", help="folder for the table and the curves"),
    device: str = typer.Option("auto"),
) -> None:
    """Recall@1/5/10 and mAP@R on the test split (searched among the training split) for raw pixels, the
    untrained network and each run, in one table."""
    from cnnlab.similarity.evaluate import evaluate_runs
    from cnnlab.train.progress import counter, make_progress

    check_device(device)
    with make_progress() as progress:
        rows = evaluate_runs(runs, Path(out), device=device,
                             progress=lambda label: counter(progress, label, console.print))
    print_table([{k: v for k, v in r.items() if k != "curve"} for r in rows], "retrieval")
    console.print(f"wrote {Path(out) / 'evaluation.json'} and {Path(out) / 'retrieval.png'}")


@app.command("tsne")
def tsne(index_dir: str = typer.Argument(..., help="an index folder"),
         points: int = typer.Option(2000, help="at most this many gallery vectors (a seeded sample)"),
         thumbnails: bool = typer.Option(False, help="draw image thumbnails on the map"),
         seed: int = typer.Option(0), out: str = typer.Option("tsne.png")) -> None:
    """A t-SNE map of an index's vectors, coloured by class."""
    from cnnlab.similarity.evaluate import index_tsne

    out = fresh_path(out)
    seconds, n = index_tsne(index_dir, out, points=points, thumbnails=thumbnails, seed=seed)
    console.print(f"wrote {out}: t-SNE of {n} vectors in {seconds:.1f} s")


@app.command("two-classes")
def two_classes(run: str = typer.Argument(..., help="a similarity run folder"),
                class_a: str = typer.Argument(..., help="class name for the x axis"),
                class_b: str = typer.Argument(..., help="class name for the y axis"),
                refs: int = typer.Option(10, help="reference images per class"),
                out: str = typer.Option("two-classes.png"), device: str = typer.Option("auto")) -> None:
    """The seed's diagram: each test image's predicted similarity to two classes, coloured by its class."""
    from cnnlab.similarity.evaluate import two_class_diagram

    check_device(device)
    out = fresh_path(out)
    two_class_diagram(run, class_a, class_b, out, n_refs=refs, device=device)
    console.print(f"wrote {out}")
