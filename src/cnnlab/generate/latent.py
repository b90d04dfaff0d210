"""Working in the latent space of a trained generator: load it, invert an image, edit and interpolate."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from cnnlab.checks import check_choice, check_number
from cnnlab.errors import DataError, RunFolderError
from cnnlab.generate.config import GanConfig
from cnnlab.generate.nets import create_generator
from cnnlab.train import RunDir

STRIP_STEPS = (0, 1, 4, 10, 20, 40)  # the seed's inversion strip
MAX_INTERPOLATION_STEPS = 100  # columns of one interpolation grid


WEIGHTS = ("ema", "raw")  # the averaged generator (where the run keeps one), or the trained one


def load_generator(run_path: str | Path, device: torch.device, weights: str = "ema"
                   ) -> tuple[torch.nn.Module, GanConfig]:
    """The generator of a GAN run's last checkpoint, in inference mode: its averaged weights (weights='ema'),
    or the raw ones for a run without them or with weights='raw'; RunFolderError for a folder that is not a GAN
    run (another task's, unfinished, or damaged)."""
    check_choice("weights", weights, WEIGHTS)
    run = RunDir.open(run_path, task="generate")
    try:
        GanConfig.from_dict(run.read_json("config.json"))  # another task's folder is named before its checkpoint
    except RunFolderError as exc:
        raise RunFolderError(f"{run.path}: {exc}") from None
    if not run.last_checkpoint.is_file():
        raise RunFolderError(f"{run.path} has no checkpoint yet; train it with `cnnlab generate train`")
    ckpt = run.load_checkpoint()
    nets = ckpt.get("nets")
    if not isinstance(ckpt.get("model"), dict) or not isinstance(nets, dict) or "D" not in nets or "config" not in ckpt:
        raise RunFolderError(f"{run.last_checkpoint} is not a GAN checkpoint; pass a folder of runs/generate/")
    try:
        cfg = GanConfig.from_dict(ckpt["config"])  # the settings the weights were trained with
        G = create_generator(cfg.generator, cfg.latent_dim, cfg.image_size, cfg.channels, cfg.width)
        averaged = nets.get("G_ema")
        G.load_state_dict(averaged["weights"] if weights == "ema" and isinstance(averaged, dict) else ckpt["model"])
    except (RunFolderError, RuntimeError, KeyError, TypeError) as exc:
        raise RunFolderError(f"the generator in {run.last_checkpoint} does not match its settings "
                             f"({str(exc).splitlines()[0][:200]}); the file is damaged: train the run again") from None
    return G.to(device).eval(), cfg


def load_latent(path: str | Path, latent_dim: int) -> torch.Tensor:
    """A latent saved by `cnnlab generate invert` (a float tensor of latent_dim values) -> (latent_dim,).
    Read with weights_only, so a file can hold tensors and nothing that runs code."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"latent file {path} {'is not a file' if path.exists() else 'does not exist'}; "
                        "`cnnlab generate invert RUN IMAGE --out DIR` writes DIR/latent.pt")
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty (0 bytes); invert the image again to write it")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a truncated or foreign file
        raise DataError(f"{path} cannot be read as a latent ({type(exc).__name__}); it is damaged, or not a tensor "
                        "saved by `cnnlab generate invert`") from None
    if not isinstance(obj, torch.Tensor):
        raise DataError(f"{path} holds a {type(obj).__name__}, not a latent tensor of {latent_dim} values")
    if not obj.is_floating_point() or obj.is_complex():
        raise DataError(f"{path} holds {obj.dtype} values; a latent is {latent_dim} floating-point values")
    if tuple(obj.shape) not in ((latent_dim,), (1, latent_dim)):
        raise DataError(f"{path} holds a tensor of shape {tuple(obj.shape)}, but this generator takes latents of "
                        f"{latent_dim} values: was it made with another run?")
    z = obj.detach().reshape(latent_dim).float()
    if not torch.isfinite(z).all():
        raise DataError(f"{path} holds NaN or infinite values; invert the image again")
    return z


@dataclass
class Inversion:
    latent: torch.Tensor  # (latent,)
    strip: dict[int, torch.Tensor]  # step -> generated image (C, S, S) in [0, 1]
    mse: list[float]  # per step, starting at step 0


def invert(G: torch.nn.Module, target: torch.Tensor, *, steps: int = 40, lr: float = 1.0, seed: int = 0,
           keep: tuple[int, ...] = STRIP_STEPS) -> Inversion:
    """Optimise one noise vector so that G reproduces `target` (C, S, S) in [0, 1]: Adam, MSE (the seed's
    settings: lr 1.0, 40 steps). The generator's weights do not change."""
    check_number("steps", steps, low=1, high=100_000, integer=True)
    check_number("lr", lr, low=0, low_open=True, high=1000)
    check_number("seed", seed, low=0, high=2**63 - 1, integer=True)
    shape = (G.channels, G.image_size, G.image_size)
    if tuple(target.shape) != shape:
        raise DataError(f"the target is {tuple(target.shape)} but this generator makes {shape} images; "
                        "pass --fit to crop and resize it")
    device = next(G.parameters()).device
    target = target.to(device).float()
    for p in G.parameters():
        p.requires_grad_(False)
    z = torch.randn(1, G.latent_dim, generator=torch.Generator().manual_seed(seed)).to(device).requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    strip, mse = {}, []
    for step in range(steps + 1):
        image = G(z)[0]
        loss = F.mse_loss(image, target)
        mse.append(loss.item())
        if step in keep or step == steps:
            strip[step] = image.detach().cpu()
        if step == steps:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    for p in G.parameters():
        p.requires_grad_(True)
    return Inversion(z.detach()[0].cpu(), strip, mse)


def reconstruction_quality(target: torch.Tensor, image: torch.Tensor) -> dict[str, float]:
    """PSNR (dB) and SSIM of `image` as a reconstruction of `target`, both (C, S, S) in [0, 1] (scikit-image's)."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    a = target.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
    b = image.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
    return {"psnr": float(peak_signal_noise_ratio(a, b, data_range=1.0)),
            "ssim": float(structural_similarity(a, b, data_range=1.0, channel_axis=2))}


def scale_every(latent: torch.Tensor, every: int = 5, factor: float = 5.0) -> torch.Tensor:
    """The seed's edit: every `every`-th latent value multiplied by `factor`."""
    check_number("scale_every", every, low=1, integer=True)
    check_number("factor", factor)
    edited = latent.clone()
    edited[::every] *= factor
    return edited


def interpolation_latents(a: torch.Tensor, b: torch.Tensor, steps: int = 8) -> torch.Tensor:
    """(steps, latent): weighted averages (1 - t) a + t b for t from 0 to 1; the ends are a and b exactly."""
    check_number("steps", steps, low=2, high=MAX_INTERPOLATION_STEPS, integer=True)
    t = torch.linspace(0, 1, steps).unsqueeze(1)  # (steps, 1)
    out = (1 - t) * a.unsqueeze(0) + t * b.unsqueeze(0)
    out[0], out[-1] = a, b
    return out


@torch.no_grad()
def render(G: torch.nn.Module, latents: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """(N, latent) -> (N, C, S, S) in [0, 1] on the CPU, `batch_size` latents at a time."""
    device = next(G.parameters()).device
    return torch.cat([G(latents[i:i + batch_size].to(device)).float().cpu()
                      for i in range(0, len(latents), batch_size)])
