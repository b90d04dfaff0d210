"""Predict masks for new images of any size: a class-index PNG at the original size, and a coloured overlay."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cnnlab.data.folders import collect_image_paths, open_image
from cnnlab.segment.model import UNet, unet_from_spec, upsample_logits
from cnnlab.train import RunDir

# Distinct colours for up to 8 classes, then a repeat; class 0 is drawn transparent in overlays.
PALETTE = [(0, 0, 0), (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
           (70, 240, 240)]


def load_unet(run_path: str | Path) -> tuple[UNet, list[str]]:
    ckpt = RunDir.open(run_path).load_checkpoint(best=True)
    model = unet_from_spec(ckpt["spec"])
    model.load_state_dict(ckpt["model"])
    return model.eval(), list(ckpt["classes"])


@torch.no_grad()
def predict_file(model: UNet, path: Path) -> tuple[np.ndarray, Image.Image]:
    """(mask (H, W) of class indices at the file's own size, the image as opened)."""
    spec = model.spec
    img = open_image(path, "L" if spec.in_channels == 1 else "RGB")
    small = np.asarray(img.resize((spec.image_size, spec.image_size), Image.Resampling.BILINEAR), np.float32) / 255
    x = torch.from_numpy(small.reshape(spec.image_size, spec.image_size, spec.in_channels)).permute(2, 0, 1)[None]
    logits = upsample_logits(model(x.to(model.mean.device)), (img.size[1], img.size[0]))
    return logits.argmax(1)[0].cpu().numpy().astype(np.uint8), img


def save_prediction(mask: np.ndarray, img: Image.Image, out: Path, stem: str) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    mask_img = Image.fromarray(mask, mode="L").convert("P")
    flat = [c for color in (PALETTE * 32)[:256] for c in color]
    mask_img.putpalette(flat)
    mask_path, overlay_path = out / f"{stem}_mask.png", out / f"{stem}_overlay.png"
    mask_img.save(mask_path)
    colors = np.array(PALETTE * 32, np.uint8)[mask]
    base = np.asarray(img.convert("RGB"), np.float32)
    alpha = np.where(mask[..., None] > 0, 0.5, 0.0)
    Image.fromarray((base * (1 - alpha) + colors * alpha).astype(np.uint8)).save(overlay_path)
    return mask_path, overlay_path


def predict_images(run_path: str | Path, inputs: list[str], out: str | Path) -> list[dict]:
    model, classes = load_unet(run_path)
    results = []
    for path in collect_image_paths(inputs):
        mask, img = predict_file(model, path)
        mask_path, overlay_path = save_prediction(mask, img, Path(out), path.stem)
        share = {classes[c]: float((mask == c).mean()) for c in np.unique(mask)}
        results.append({"path": str(path), "mask": str(mask_path), "overlay": str(overlay_path), "share": share})
    return results
