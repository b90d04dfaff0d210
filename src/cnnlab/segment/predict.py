"""Predict masks for new images of any size: a class-index PNG at the original size, and a coloured overlay."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

from cnnlab.atomic import replacing
from cnnlab.data.folders import collect_image_paths, open_image
from cnnlab.errors import CnnlabError, DataError, RunFolderError
from cnnlab.segment.exported import OnnxUNet, load_exported
from cnnlab.segment.model import UNet, unet_from_spec, upsample_logits
from cnnlab.train.device import resolve_device
from cnnlab.train.run import RunDir, open_trained

if TYPE_CHECKING:
    from cnnlab.segment.training import SegmentConfig

# Distinct colours for up to 8 classes, then a repeat; class 0 is drawn transparent in overlays.
PALETTE = [(0, 0, 0), (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
           (70, 240, 240)]
OUTPUTS = ("_mask.png", "_overlay.png")  # written per image, after its output stem


def open_unet(run_path: str | Path) -> tuple[RunDir, SegmentConfig, UNet, list[str]]:
    """The best U-Net of a segment run folder, the run, its config and class names; RunFolderError for any other
    folder."""
    from cnnlab.segment.training import SegmentConfig  # on call: training's imports are heavy for predict

    run, cfg, ckpt = open_trained(run_path, "segment", SegmentConfig.from_dict)
    try:
        model = unet_from_spec(ckpt["spec"])
        model.load_state_dict(ckpt["model"])
        classes = [str(c) for c in ckpt["classes"]]
        if len(classes) != model.spec.num_classes:
            raise ValueError(f"{len(classes)} class names for {model.spec.num_classes} outputs")
    except (KeyError, TypeError, ValueError, RuntimeError, CnnlabError) as exc:
        raise RunFolderError(f"{run.best_checkpoint} is not a U-Net checkpoint of cnnlab segment "
                             f"({type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''})") from None
    return run, cfg, model.eval(), classes


def load_unet(run_path: str | Path) -> tuple[UNet, list[str]]:
    """The best U-Net of a segment run folder and its class names; RunFolderError for any other folder."""
    _, _, model, classes = open_unet(run_path)
    return model, classes


def load_segmenter(path: str | Path, device: str = "cpu") -> tuple[UNet | OnnxUNet, list[str]]:
    """The U-Net of a segment run folder (on `device`), or of a file `cnnlab export` wrote (model.onnx, run by ONNX
    Runtime on the CPU; model.safetensors with its JSON), and its class names."""
    if Path(path).suffix.lower() in (".onnx", ".safetensors"):
        model, classes = load_exported(path)
    else:
        model, classes = load_unet(path)
    if isinstance(model, torch.nn.Module):
        model.to(resolve_device(device))
    return model, classes


@torch.no_grad()
def mask_of(model: UNet | OnnxUNet, img: Image.Image) -> np.ndarray:
    """The mask (H, W) of class indices, uint8, of an image in the model's mode, at the image's own size: the
    image resized to the model's side (bilinear), the logits resized back (bilinear) before the argmax."""
    spec = model.spec
    small = np.asarray(img.resize((spec.image_size, spec.image_size), Image.Resampling.BILINEAR), np.float32) / 255
    x = torch.from_numpy(small.reshape(spec.image_size, spec.image_size, spec.in_channels)).permute(2, 0, 1)[None]
    logits = upsample_logits(model(x.to(model.mean.device)), (img.size[1], img.size[0]))
    return logits.argmax(1)[0].cpu().numpy().astype(np.uint8)


def predict_file(model: UNet | OnnxUNet, path: Path) -> tuple[np.ndarray, Image.Image]:
    """(mask (H, W) of class indices at the file's own size, the image as opened)."""
    img = open_image(path, "L" if model.spec.in_channels == 1 else "RGB")
    return mask_of(model, img), img


def save_png(img: Image.Image, path: Path) -> None:
    """A PNG written to a temporary file beside `path`, then renamed: never half a file."""
    with replacing(path) as tmp:
        img.save(tmp, format="PNG")


def save_prediction(mask: np.ndarray, img: Image.Image, out: Path, stem: str) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    mask_img = Image.fromarray(mask).convert("P")  # uint8 (H, W): class indices, drawn through the palette
    flat = [c for color in (PALETTE * 32)[:256] for c in color]
    mask_img.putpalette(flat)
    mask_path, overlay_path = out / f"{stem}_mask.png", out / f"{stem}_overlay.png"
    save_png(mask_img, mask_path)
    colors = np.array(PALETTE * 32, np.uint8)[mask]
    base = np.asarray(img.convert("RGB"), np.float32)
    alpha = np.where(mask[..., None] > 0, 0.5, 0.0)
    save_png(Image.fromarray((base * (1 - alpha) + colors * alpha).astype(np.uint8)), overlay_path)
    return mask_path, overlay_path


def output_stems(paths: list[Path]) -> list[str]:
    """One output name per image: its file stem, and STEM-2, STEM-3, ... for a later image whose stem is
    taken (compared ignoring case, as some file systems do), so that no two images share an output."""
    used: set[str] = set()
    stems = []
    for path in paths:
        stem, k = path.stem, 1
        while stem.casefold() in used:
            k += 1
            stem = f"{path.stem}-{k}"
        used.add(stem.casefold())
        stems.append(stem)
    return stems


def plan_outputs(inputs: list[str], out: Path, overwrite: bool) -> list[tuple[Path, str]]:
    """(image, output stem) for every image found; refuses an --out that is a file, and outputs that exist
    already (files cnnlab did not write in this call) unless `overwrite`."""
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out} is a file; give a folder for the masks and overlays")
    unique: dict[Path, Path] = {}
    for path in collect_image_paths(inputs):  # each image once, however often it was named
        unique.setdefault(path.resolve(), path)
    paths = list(unique.values())
    plan = list(zip(paths, output_stems(paths), strict=True))
    if not overwrite:
        taken = [out / f"{stem}{kind}" for _, stem in plan for kind in OUTPUTS
                 if (out / f"{stem}{kind}").exists() or (out / f"{stem}{kind}").is_symlink()]
        if taken:
            raise DataError(f"{len(taken)} output file(s) exist already in {out} (e.g. {taken[0].name}); cnnlab "
                            "does not overwrite them: choose another --out, or pass --overwrite to replace them")
    return plan


def predict_images(run_path: str | Path, inputs: list[str], out: str | Path, *, overwrite: bool = False,
                   device: str = "cpu") -> list[dict]:
    """Masks and overlays of every image in `inputs` (files or folders) in `out`, from the U-Net of a segment run
    folder or an export of one: STEM_mask.png (class indices, with a palette) and STEM_overlay.png; see
    output_stems for images that share a stem."""
    out = Path(out)
    model, classes = load_segmenter(run_path, device)
    results = []
    for path, stem in plan_outputs(inputs, out, overwrite):
        mask, img = predict_file(model, path)
        mask_path, overlay_path = save_prediction(mask, img, out, stem)
        share = {classes[c]: float((mask == c).mean()) for c in np.unique(mask)}
        results.append({"path": str(path), "mask": str(mask_path), "overlay": str(overlay_path), "share": share})
    return results
