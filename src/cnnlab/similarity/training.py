"""Train a Siamese or metric-learning network into a run folder, then measure retrieval and draw the
seed's figures (pairs, two-class diagram, t-SNE)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from cnnlab.data.datasets import load_run_dataset
from cnnlab.data.images import DataSplits, ImageData
from cnnlab.data.loader import BatchLoader
from cnnlab.index.embedders import PixelEmbedder, PretrainedEmbedder
from cnnlab.models import count_parameters, model_entry
from cnnlab.models.factory import model_for_images
from cnnlab.options import said
from cnnlab.similarity.analysis import compare_embedders, pair_scores, tsne_map, two_class_scores
from cnnlab.similarity.config import SimilarityConfig
from cnnlab.similarity.defaults import sized_model
from cnnlab.similarity.embed import NetworkEmbedder
from cnnlab.similarity.evaluate import untrained_like
from cnnlab.similarity.holdout import holdout_note, split_classes
from cnnlab.similarity.metrics import retrieval_scores
from cnnlab.similarity.model import SimilarityNet
from cnnlab.similarity.pairs import PairLoader, make_pairs
from cnnlab.similarity.plots import plot_pairs, plot_retrieval_curves, plot_tsne, plot_two_classes, to_hwc
from cnnlab.similarity.report import write_report
from cnnlab.similarity.steps import metric_step, ranking_siamese_step, siamese_step
from cnnlab.train import FitState, RunDir, Task, fit, resolve_device, seed_everything
from cnnlab.train.run import start_run

TSNE_POINTS = 1000  # test images on the run's t-SNE map
SHOWN_PAIRS = 12
JUDGE_GALLERY = 5000  # training images the validation queries are searched among each epoch


@dataclass
class SimilarityResult:
    run: RunDir
    state: FitState
    summary: dict


def build_network(cfg: SimilarityConfig, data: DataSplits, seed: int | None = None) -> SimilarityNet:
    """The zoo backbone (with the training set's normalisation) wrapped for the configured method."""
    if seed is not None:
        torch.manual_seed(seed)
    backbone = model_for_images(cfg.model, data.train.images, len(data.classes), pretrained=cfg.pretrained,
                                weights=cfg.weights, input_size=cfg.input_size, **cfg.model_args)
    return SimilarityNet(backbone, cfg.method, cfg.embedding_dim)


def loaders(cfg: SimilarityConfig, data: DataSplits, device: torch.device):
    bs = cfg.fit.batch_size
    if cfg.method == "siamese":
        n_train = cfg.pairs or len(data.train)
        train = PairLoader(data.train, n_train, bs, augment=cfg.augment, seed=cfg.fit.seed, device=device,
                           labels=cfg.rank)
        val = PairLoader(data.val, max(len(data.val), 256), 256, fixed=True, seed=cfg.fit.seed + 1, device=device)
        return train, val, ranking_siamese_step(cfg.loss) if cfg.rank else siamese_step
    train = BatchLoader(data.train, bs, shuffle=True, augment=cfg.augment, seed=cfg.fit.seed, device=device,
                        drop_last=len(data.train) > bs, per_class=cfg.per_class or None)  # fewer: one short batch
    return train, BatchLoader(data.val, 512, device=device), metric_step(cfg.loss)


def retrieval_judge(val: ImageData, device: torch.device, gallery: ImageData | None = None,
                    seed: int = 0) -> Callable[[torch.nn.Module], dict]:
    """Each epoch, the validation images searched among (up to JUDGE_GALLERY of) the training images, as
    search is used and tested; without a `gallery`, among themselves (each query's own image left out).
    Recall@1 and mAP@R pick the checkpoint: a validation loss stays flat and noisy while retrieval keeps
    improving."""
    labels = val.labels.numpy()
    if gallery is not None and len(gallery) > JUDGE_GALLERY:
        gallery = gallery.subset(torch.randperm(len(gallery), generator=torch.Generator().manual_seed(seed))
                                 [:JUDGE_GALLERY])

    def judge(net: torch.nn.Module) -> dict:
        embedder = NetworkEmbedder(net, device=device)
        vectors = embedder.embed_data(val)
        if gallery is None:
            scores = retrieval_scores(vectors, labels, vectors, labels, ks=(1,), exclude_self=True, curve_to=1)
        else:
            scores = retrieval_scores(vectors, labels, embedder.embed_data(gallery), gallery.labels.numpy(),
                                      ks=(1,), curve_to=1)
        return {"recall@1": scores["recall@1"], "map@r": scores["map@r"]}

    return judge


def similarity_task(cfg: SimilarityConfig, data: DataSplits, device: torch.device
                    ) -> tuple[Task, SimilarityConfig, list[tuple[str, str | None]]]:
    """The engine's task for `cfg` on `data` (network, step, loaders, judge), the config with --model auto
    resolved, and what to say about it as (line, style)."""
    config = cfg.to_dict()  # as configured (--model auto stays auto: it resolves alike on resume)
    model, pretrained, why = sized_model(cfg.model, cfg.pretrained, data.train.size[0])
    say = [(why, "cyan")] if why else []
    cfg = replace(cfg, model=model, pretrained=pretrained)
    net = build_network(cfg, data).to(device)
    say += [(note, "cyan") for note in net.backbone.notes]
    say.append((f"{cfg.method} on {cfg.model} features ({net.feature_dim}), {cfg.data.name}: {len(data.train)} "
                f"train / {len(data.val)} val / {len(data.test)} test images, {count_parameters(net):,} parameters, "
                f"device {device}, loss: {loss_words(cfg)}", None))
    train_loader, val_loader, step = loaders(cfg, data, device)
    by_loss = cfg.select_by == "loss"
    task = Task("similarity", net, step, train_loader, val_loader, config=config,
                judge=None if by_loss else retrieval_judge(data.val, device, data.train, cfg.fit.seed),
                monitor="val_loss" if by_loss else f"val_{cfg.select_by}", maximize=not by_loss,
                default_weight_decay=model_entry(cfg.model).defaults.get("weight_decay", 0.0))
    return task, cfg, say


def train_similarity(cfg: SimilarityConfig, *, resume: bool = False, overwrite: bool = False,
                     callbacks: tuple[Callable[[int, dict], None], ...] = (),
                     given: set[str] | None = None) -> SimilarityResult:
    """Train `cfg` into its run folder. With resume, the folder's own config.json is used; the options named
    in `given` must agree with it (--epochs may grow, see cnnlab.train.resume)."""
    run, cfg, checkpoint = start_run(cfg, SimilarityConfig.from_dict, resume=resume, overwrite=overwrite,
                                     given=given, aliases={"model_arg": ("model_args",), "data": ("data.name",),
                                                           "data_dir": ("data.root",)})
    if checkpoint is not None:
        run.log(f"resuming {run.path} after epoch {checkpoint['epoch']}")
    device = resolve_device(cfg.fit.device)
    seed_everything(cfg.fit.seed)
    data = load_run_dataset(run, cfg.data)
    for note in data.notes:
        run.log(note, style="yellow")
    for path, reason in data.skipped:
        run.log(f"skipped unreadable image {path}: {reason}", style="yellow")
    data, held = split_classes(data, cfg.holdout_classes)
    if held is not None:
        run.log(holdout_note(held, cfg.holdout_classes), style="cyan")
    task, cfg, say = similarity_task(cfg, data, device)
    for line, style in say:
        run.log(line, style=style)
    net = task.model
    extra = {"similarity": net.describe(), "classes": data.classes}
    state = fit(task, cfg.fit, device=device, run=run, checkpoint=checkpoint, extra=extra, callbacks=callbacks)
    summary = {"status": state.status}
    if state.status in ("finished", "early-stopped", "budget-spent"):
        summary = finish(run, cfg, net, data, state, device, held)
    return SimilarityResult(run, state, summary)


def finish(run: RunDir, cfg: SimilarityConfig, net: SimilarityNet, data: DataSplits, state: FitState,
           device: torch.device, held: DataSplits | None = None) -> dict:
    """Best checkpoint -> retrieval table (vs raw pixels and the untrained net), figures, summary, report."""
    net.load_state_dict(run.load_checkpoint(best=True)["model"])
    net.eval()
    embedders = {"raw pixels": PixelEmbedder(data.train.channels, data.train.size[0]),
                 **starting_point(cfg, net, device),
                 f"{cfg.method} {cfg.model}": NetworkEmbedder(net, device=device)}
    rows, curves = compare_embedders(embedders, data.train, data.test)
    plot_retrieval_curves(curves, run.path / "retrieval.png")
    draw_figures(run, cfg, net, data, device)
    history = state.history
    mine = rows[-1]
    summary = {
        "status": state.status, "method": cfg.method, "model": cfg.model, "data": cfg.data.name,
        "loss": loss_words(cfg),
        "params": count_parameters(net), "epochs": len(history),
        "train_seconds": sum(r["seconds"] for r in history), "best_epoch": state.best_epoch,
        "selected_by": f"validation {cfg.select_by}" if cfg.select_by != "loss" else "validation loss",
        "final_val_acc": history[-1]["val_acc"], "retrieval": rows,
        "recall@1": mine["recall@1"], "map@r": mine["map@r"], "notes": net.backbone.notes,
        "leaks_dropped": data.leaks_dropped,
    }
    summary["verdict"] = verdict(rows)
    if held is not None:
        held_rows = compare_embedders(embedders, held.train, held.test)[0]
        held_verdict = verdict(held_rows) and f"on the held-out classes: {verdict(held_rows)}"
        summary["holdout"] = {"classes": held.classes[len(held.classes) - cfg.holdout_classes:],
                              "queries": len(held.test), "gallery": len(held.train), "retrieval": held_rows,
                              "verdict": held_verdict}
        if held_verdict:
            run.log(held_verdict, style="bold yellow")
        run.log(f"held-out classes: Recall@1 {held_rows[-1]['recall@1']:.2%}, mAP@R {held_rows[-1]['map@r']:.3f} "
                f"(raw pixels: {held_rows[0]['recall@1']:.2%}, {held_rows[0]['map@r']:.3f})", style="bold green")
    run.write_json("summary.json", summary)
    write_report(run)
    if summary["verdict"]:
        run.log(summary["verdict"], style="bold yellow")
    run.log(f"checkpoint of epoch {state.best_epoch} of {len(history)} used (best {summary['selected_by']})")
    run.log(f"Recall@1 {mine['recall@1']:.2%}, mAP@R {mine['map@r']:.3f} on test images searched among "
            f"{len(data.train)} training images (raw pixels: {rows[0]['recall@1']:.2%}); report: "
            f"{run.path / 'report.html'}", style="bold green")
    return summary


def starting_point(cfg: SimilarityConfig, net: SimilarityNet, device: torch.device) -> dict:
    """The embedding training started from, for the table: a pretrained timm backbone's own pooled ImageNet
    features (what `similarity index pretrained:ARCH` gives with no training), else the untrained network."""
    if cfg.pretrained and cfg.model.startswith("timm:") and not cfg.weights:
        arch = cfg.model.removeprefix("timm:")
        return {f"pretrained {arch} features (no training)": PretrainedEmbedder(arch, device=device)}
    return {f"untrained {cfg.model}": NetworkEmbedder(untrained_like(net, cfg.fit.seed).to(device), device=device)}


def loss_words(cfg: SimilarityConfig) -> str:
    """What the run was trained with, for the summary and report."""
    if cfg.method == "metric":
        return cfg.loss
    if cfg.rank:
        return f"binary cross-entropy on pairs (head) + {cfg.loss} on the shared features (ranking)"
    return "binary cross-entropy on pairs (the seed's; the features are not trained for ranking)"


def verdict(rows: list[dict]) -> str:
    """A warning when the trained embedding (the last row) finds no more than raw pixels (the first) do, by
    mAP@R or Recall@1 on the test images; '' when it beats them."""
    pixels, mine = rows[0], rows[-1]
    start = rows[1] if len(rows) > 2 else {}  # the starting point, when the table has one
    worse = [m for m in ("map@r", "recall@1") if mine[m] <= pixels[m]]
    if not worse and start.get("embedding", "").startswith("pretrained") and mine["map@r"] < start["map@r"]:
        return (f"fine-tuning made search worse than the pretrained features it started from (mAP@R "
                f"{mine['map@r']:.3f} vs {start['map@r']:.3f}): index with them directly (cnnlab similarity index "
                f"pretrained ...), or train longer with a lower {said('lr')}")
    if not worse:
        return ""
    shown = ", ".join(f"{m} {mine[m]:.3f} vs {pixels[m]:.3f}" for m in worse)
    return (f"no better than raw pixels ({shown}): train longer, try {said('method')} metric, a smaller "
            f"{said('model')} for small images, or the pretrained index (cnnlab similarity index pretrained ...)")


def draw_figures(run: RunDir, cfg: SimilarityConfig, net: SimilarityNet, data: DataSplits,
                 device: torch.device) -> None:
    """pairs.png (test pairs, actual vs predicted), two-classes.png (last vs first class, the seed's Ankle
    boot vs T-shirt on Fashion-MNIST) and tsne.png (test images' embeddings)."""
    test = data.test
    g = torch.Generator().manual_seed(cfg.fit.seed)
    a, b, target = make_pairs(test.labels, SHOWN_PAIRS, g)
    predicted = pair_scores(net, test.images[a], test.images[b], device)
    names = [(test.classes[test.labels[i]], test.classes[test.labels[j]]) for i, j in zip(a, b, strict=True)]
    plot_pairs(to_hwc(test.images[a]), to_hwc(test.images[b]), target.numpy(), run.path / "pairs.png", predicted, names)
    present = torch.unique(data.train.labels).tolist()  # held-out classes are not among them
    first, last = present[0], present[-1]
    sa, sb = two_class_scores(net, test, data.train, last, first, device, seed=cfg.fit.seed)
    plot_two_classes(sa, sb, test.labels.numpy(), data.classes, data.classes[last], data.classes[first],
                     run.path / "two-classes.png")
    idx = torch.randperm(len(test), generator=g)[:TSNE_POINTS]
    shown = test.subset(idx)
    vectors = NetworkEmbedder(net, device=device).embed_data(shown)
    points, seconds = tsne_map(vectors, cfg.fit.seed)
    plot_tsne(points, shown.labels.numpy(), data.classes, run.path / "tsne.png",
              f"t-SNE of {len(shown)} test embeddings ({seconds:.1f} s)")

