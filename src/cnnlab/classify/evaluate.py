"""Evaluate a trained classifier, and predict classes of new image files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import confusion_matrix

from cnnlab.data.folders import collect_image_paths, image_tensor
from cnnlab.data.images import ImageData
from cnnlab.data.loader import BatchLoader
from cnnlab.errors import DataError, RunFolderError
from cnnlab.models import ImageClassifier, model_from_spec
from cnnlab.train import RunDir, resolve_device
from cnnlab.train.device import AsTrained


def class_logits(model, x: torch.Tensor, tta: bool = False) -> torch.Tensor:
    """Float logits (B, K) of images (B, C, H, W); with `tta`, the mean of each image's and its mirror's."""
    logits = model(x).float()
    return (logits + model(x.flip(-1)).float()) / 2 if tta else logits


@torch.no_grad()
def evaluate_model(model: ImageClassifier, data: ImageData, *, device: torch.device, precision: str = "auto",
                   channels_last: str = "auto", batch_size: int = 512, tta: bool = False) -> dict:
    """Accuracy, mean loss and the confusion matrix (rows true, columns predicted) on `data`, the model run in the
    run's `precision` and memory layout (`channels_last`) as training validated it; with `tta`, from the mean
    logits of each image and its mirror."""
    model.eval()
    net = AsTrained(model, device, precision, channels_last)
    preds, losses = [], []
    for x, y in BatchLoader(data, batch_size, device=device):
        with net.context():
            logits = class_logits(model, net.inputs(x), tta)
        losses.append(F.cross_entropy(logits, y, reduction="sum"))
        preds.append(logits.argmax(1))
    pred = torch.cat(preds).cpu().numpy()
    true = data.labels.numpy()
    matrix = confusion_matrix(true, pred, labels=np.arange(len(data.classes)))
    per_class, means = per_class_metrics(matrix, data.classes)
    return {"acc": float((pred == true).mean()), "loss": float(torch.stack(losses).sum()) / len(true),
            "confusion": matrix, "pred": pred, "per_class": per_class, **means}


def per_class_metrics(matrix: np.ndarray, classes: list[str]) -> tuple[list[dict], dict]:
    """Precision, recall, F1 and support of each class from a confusion matrix (rows true, columns predicted), and
    the balanced accuracy (mean recall over the classes present) and macro F1 that unequal classes call for."""
    matrix = np.asarray(matrix, dtype=np.float64)
    tp, support, predicted = np.diag(matrix), matrix.sum(1), matrix.sum(0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp), where=precision + recall > 0)
    rows = [{"class": c, "precision": round(float(precision[i]), 4), "recall": round(float(recall[i]), 4),
             "f1": round(float(f1[i]), 4), "support": int(support[i])} for i, c in enumerate(classes)]
    present = support > 0
    return rows, {"balanced_acc": float(recall[present].mean()) if present.any() else 0.0,
                  "macro_f1": float(f1[present].mean()) if present.any() else 0.0}


@dataclass
class LoadedClassifier:
    model: ImageClassifier  # or an OnnxClassifier, called alike
    classes: list[str]
    run: RunDir | None  # None for an exported file


def load_classifier(run_path: str | Path, *, best: bool = True, device: str = "auto") -> LoadedClassifier:
    """The trained model of a run folder (its best checkpoint unless best=False), or of an exported file
    (model.onnx, run by ONNX Runtime on the CPU; model.safetensors with its model.json)."""
    suffix = Path(run_path).suffix.lower()
    if suffix in (".onnx", ".safetensors"):
        from cnnlab.models.export import OnnxClassifier, load_safetensors

        if suffix == ".onnx":
            model = OnnxClassifier.load(run_path)
            return LoadedClassifier(model, model.classes, None)
        model, info = load_safetensors(run_path)
        return LoadedClassifier(model.to(resolve_device(device)), [str(c) for c in info["classes"]], None)
    run = RunDir.open(run_path, task="classify")
    ckpt = run.load_checkpoint(best=best)
    try:
        model = model_from_spec(ckpt["spec"])
        model.load_state_dict(ckpt["model"])
        classes = [str(c) for c in ckpt["classes"]]
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise RunFolderError(f"the checkpoint in {run.path} is not a cnnlab classifier's, or does not fit its "
                             f"model ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); retrain the run or "
                             "restore its checkpoints/") from exc
    recorded = run.read_json("splits.json").get("classes") if (run.path / "splits.json").is_file() else None
    if recorded is not None and recorded != classes:
        raise RunFolderError(f"the checkpoint in {run.path} predicts {len(classes)} classes but the run was trained on "
                             f"{len(recorded)} ({', '.join(map(str, recorded[:4]))}...): it is another run's "
                             "checkpoint; restore this run's checkpoints/ or train it again")
    return LoadedClassifier(model.to(resolve_device(device)).eval(), classes, run)


@torch.no_grad()
def predict_images(loaded: LoadedClassifier, inputs: list[str | Path], top_k: int = 3) -> list[dict]:
    """Top-k classes with probabilities for each image file (folders are searched for images)."""
    spec = loaded.model.spec
    top_k = min(top_k, len(loaded.classes))
    device = loaded.model.mean.device
    results = []
    for path in collect_image_paths(inputs):
        try:
            x = image_tensor(path, spec.in_channels, spec.image_size).unsqueeze(0).to(device)
        except DataError as exc:
            results.append({"path": str(path), "error": str(exc)})
            continue
        probs = loaded.model(x).float().softmax(1)[0]
        p, idx = probs.topk(top_k)
        top = [(loaded.classes[i], float(q)) for q, i in zip(p.tolist(), idx.tolist(), strict=True)]
        results.append({"path": str(path), "top": top})
    return results


SPLITS = ("test", "val", "train")


def evaluate_run(run_path: str | Path, out: str | Path | None = None, device: str = "auto",
                 split: str | None = None) -> dict:
    """The run's best checkpoint on one of its splits (`split`: test, the default, val or train): accuracy, loss and
    each class's accuracy; also written to the JSON file `out` when given (never over an existing file)."""
    from cnnlab.checks import check_split
    from cnnlab.classify.config import ClassifyConfig
    from cnnlab.cliutil import fresh_path
    from cnnlab.console import console
    from cnnlab.data.datasets import load_run_dataset
    from cnnlab.train.run import write_json_atomic

    check_split(split, None, SPLITS)
    if Path(run_path).suffix.lower() in (".onnx", ".safetensors"):
        raise DataError(f"evaluate takes a run folder (its splits are recorded there), not the exported {run_path}")
    loaded = load_classifier(run_path, device=device)
    cfg = ClassifyConfig.from_dict(loaded.run.read_json("config.json"))
    splits = load_run_dataset(loaded.run, cfg.data)
    for note in splits.notes:
        console.print(note, style="yellow")
    judged = split or "test"
    data = getattr(splits, judged)
    scored = evaluate_model(loaded.model, data, device=loaded.model.mean.device, precision=cfg.fit.precision,
                            channels_last=cfg.fit.channels_last, tta=cfg.fit.tta)
    matrix = scored["confusion"]
    per_class = {row["class"]: {"images": row["support"], "accuracy": row["recall"], "precision": row["precision"],
                                "f1": row["f1"]} for row in scored["per_class"]}
    result = {"judged": judged, "count": int(matrix.sum()), "acc": float(scored["acc"]), "loss": float(scored["loss"]),
              "balanced_acc": scored["balanced_acc"], "macro_f1": scored["macro_f1"], "per_class": per_class}
    if out is not None:
        write_json_atomic(fresh_path(out), result)
    return result
