"""What a classifier gets wrong, as fastai's interpretation shows it: the test images with the highest loss (true
vs predicted class, with the Grad-CAM of the prediction) and the most confused pairs of classes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from cnnlab.atomic import replacing
from cnnlab.data.images import ImageData
from cnnlab.data.loader import BatchLoader

TOP_LOSSES = 9  # images in the report's grid


def confused_pairs(matrix: np.ndarray, classes: list[str], count: int = 10) -> list[dict]:
    """The off-diagonal cells of a confusion matrix (rows true, columns predicted) with the most images."""
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(off, axis=None)[::-1][:count]
    rows = []
    for flat in order:
        true, pred = np.unravel_index(flat, off.shape)
        if off[true, pred] == 0:
            break
        rows.append({"true": classes[true], "predicted as": classes[pred], "images": int(off[true, pred]),
                     "share of the class": f"{off[true, pred] / max(matrix[true].sum(), 1):.1%}"})
    return rows


@torch.no_grad()
def per_image_losses(model, data: ImageData, device: torch.device) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(loss, predicted class, probability of the prediction) of each image of `data`, in fp32."""
    model.eval()
    losses, preds, probs = [], [], []
    for x, y in BatchLoader(data, 256, device=device):
        logits = model(x).float()
        losses.append(F.cross_entropy(logits, y, reduction="none"))
        p, pred = logits.softmax(1).max(1)
        preds.append(pred)
        probs.append(p)
    return tuple(torch.cat(v).cpu().numpy() for v in (losses, preds, probs))  # type: ignore[return-value]


def top_losses(model, data: ImageData, device: torch.device, count: int = TOP_LOSSES) -> list[dict]:
    """The `count` images of `data` with the highest loss: index, true and predicted class, loss, probability."""
    losses, preds, probs = per_image_losses(model, data, device)
    order = np.argsort(losses)[::-1][:count]
    labels = data.labels.numpy()
    return [{"index": int(i), "true": data.classes[labels[i]], "predicted": data.classes[preds[i]],
             "pred_index": int(preds[i]), "loss": float(losses[i]), "probability": float(probs[i])} for i in order]


def plot_top_losses(model, data: ImageData, rows: list[dict], path: Path) -> None:
    """A grid of the top-loss images, each under the Grad-CAM of its predicted class, titled true / predicted."""
    import matplotlib.pyplot as plt

    from cnnlab.report.cam import grad_cam, show_cam

    device = next(model.buffers()).device
    cols = min(3, len(rows))
    fig, axes = plt.subplots(-(-len(rows) // cols), cols, figsize=(3.6 * cols, 3.4 * -(-len(rows) // cols)),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, row in zip(axes.flat, rows, strict=False):
        x = data.images[row["index"]].float().div(255).unsqueeze(0).to(device)  # (1, C, S, S)
        image = x[0].permute(1, 2, 0).cpu().numpy()
        title = f"true {row['true']} / predicted {row['predicted']}\nloss {row['loss']:.2f}, p {row['probability']:.0%}"
        try:
            heat, _ = grad_cam(model, model.net, x, [row["pred_index"]])
        except ValueError:  # a network without feature maps: the image alone
            ax.imshow(image[..., 0] if image.shape[2] == 1 else image, cmap="gray", vmin=0, vmax=1)
            ax.set_title(title, fontsize=9)
            continue
        show_cam(fig, ax, image, heat[0], title, colorbar=ax is axes.flat[cols - 1])
    fig.suptitle("Test images with the highest loss; Grad-CAM of the predicted class", fontsize=11)
    with replacing(path) as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight")
    plt.close(fig)


def top_losses_section(run_path: Path, model=None, test: ImageData | None = None) -> tuple[list[dict], str | None]:
    """Rows for the report's table and top_losses.png written in the run folder; loads the run's best model and
    test split when not given. Returns ([], reason) when they cannot be read (the data moved, for example)."""
    from cnnlab.errors import CnnlabError

    try:
        if model is None or test is None:
            model, test = _load(run_path)
        device = next(model.buffers()).device
        rows = top_losses(model, test, device)
        if rows:
            plot_top_losses(model, test, rows, run_path / "top_losses.png")
    except CnnlabError as exc:
        return [], str(exc)
    return [{k: v for k, v in r.items() if k != "pred_index"} for r in rows], None


def _load(run_path: Path):
    from cnnlab.classify.config import ClassifyConfig
    from cnnlab.classify.evaluate import load_classifier
    from cnnlab.data.datasets import load_run_dataset

    loaded = load_classifier(run_path, device="cpu")
    cfg = ClassifyConfig.from_dict(loaded.run.read_json("config.json"))
    return loaded.model, load_run_dataset(loaded.run, cfg.data).test
