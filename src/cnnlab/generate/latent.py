"""Working in the latent space of a trained generator: load it, invert an image, edit and interpolate."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from cnnlab.errors import DataError, RunFolderError
from cnnlab.generate.config import GanConfig
from cnnlab.generate.nets import create_generator
from cnnlab.train import RunDir

STRIP_STEPS = (0, 1, 4, 10, 20, 40)  # the seed's inversion strip


def load_generator(run_path: str, device: torch.device) -> tuple[torch.nn.Module, GanConfig]:
    """The generator of a GAN run's last checkpoint, in inference mode."""
    run = RunDir.open(run_path)
    if not run.last_checkpoint.is_file():
        raise RunFolderError(f"{run.path} has no checkpoint yet; train it with `cnnlab generate train`")
    ckpt = run.load_checkpoint()
    if "trainer" not in ckpt:
        raise RunFolderError(f"{run.path} is not a GAN run")
    cfg = GanConfig.from_dict(ckpt["config"])
    G = create_generator(cfg.generator, cfg.latent_dim, cfg.image_size, cfg.channels, cfg.width)
    G.load_state_dict(ckpt["trainer"]["G"])
    return G.to(device).eval(), cfg


@dataclass
class Inversion:
    latent: torch.Tensor  # (latent,)
    strip: dict[int, torch.Tensor]  # step -> generated image (C, S, S) in [0, 1]
    mse: list[float]  # per step, starting at step 0


def invert(G: torch.nn.Module, target: torch.Tensor, *, steps: int = 40, lr: float = 1.0, seed: int = 0,
           keep: tuple[int, ...] = STRIP_STEPS) -> Inversion:
    """Optimise one noise vector so that G reproduces `target` (C, S, S) in [0, 1]: Adam, MSE (the seed's
    settings: lr 1.0, 40 steps). The generator's weights do not change."""
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


def scale_every(latent: torch.Tensor, every: int = 5, factor: float = 5.0) -> torch.Tensor:
    """The seed's edit: every `every`-th latent value multiplied by `factor`."""
    edited = latent.clone()
    edited[::every] *= factor
    return edited


def interpolation_latents(a: torch.Tensor, b: torch.Tensor, steps: int = 8) -> torch.Tensor:
    """(steps, latent): weighted averages (1 - t) a + t b for t from 0 to 1; the ends are a and b exactly."""
    t = torch.linspace(0, 1, steps).unsqueeze(1)  # (steps, 1)
    out = (1 - t) * a.unsqueeze(0) + t * b.unsqueeze(0)
    out[0], out[-1] = a, b
    return out


@torch.no_grad()
def render(G: torch.nn.Module, latents: torch.Tensor) -> torch.Tensor:
    """(N, latent) -> (N, C, S, S) in [0, 1] on the CPU."""
    device = next(G.parameters()).device
    return G(latents.to(device)).float().cpu()
