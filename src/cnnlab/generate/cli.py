"""`cnnlab generate ...`: train, compare, sample, invert, interpolate."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from cnnlab.checks import check_device, check_number
from cnnlab.cliutil import exit_for, fresh_path
from cnnlab.console import console
from cnnlab.errors import ConfigError, DataError
from cnnlab.generate.options import FIT_OPTIONS
from cnnlab.options import Options
from cnnlab.train.options import training_options

if TYPE_CHECKING:
    import torch

app = typer.Typer(no_args_is_help=True)


@app.command("train")
@training_options(*FIT_OPTIONS, defaults={"epochs": 50, "batch_size": 32})
def train(
    ctx: typer.Context,
    data: str = typer.Option(None, "--data", help="a folder of photos, folder:PATH, or DATASET[:CLASS] (cifar10:cat); "
                             "with --resume, the run's own"),
    data_dir: str = typer.Option(None, "--data-dir", help="folder with the dataset's official files"),
    image_size: int = typer.Option(None, help="32 or 64 (default: 64; the built-in digits: 32, as in every room)"),
    channels: int = typer.Option(3),
    generator: str = typer.Option("transposed", help="transposed or upsampling (the seed's two)"),
    latent_dim: int = typer.Option(128),
    width: float = typer.Option(1.0, help="filter counts x this (1.0: the seed's; 0.25 for quick CPU trials)"),
    preset: str = typer.Option("dcgan", help="Adam settings: dcgan (2e-4, beta1 0.5) or seed (1e-4, Keras betas)"),
    lr_d: float = typer.Option(None, help="discriminator learning rate (default: the preset's)"),
    lr_g: float = typer.Option(None, help="generator learning rate (default: the preset's)"),
    label_noise: float = typer.Option(0.05, help="+- noise on the bce loss's 1/0 targets (the seed's)"),
    augment: str = typer.Option("seed", help="of the real images only: seed (flip, zoom 0.1, rotation 36 deg), "
                                "hflip, none, or a list"),
    loss: str = typer.Option("bce", help="bce (the seed's), nonsaturating or hinge"),
    diffaug: str = typer.Option("color,translation,cutout", help="DiffAugment of real and generated images "
                                "alike: a list of color, translation, cutout; or none"),
    ema: float = typer.Option(0.0, help="decay of an averaged generator used for samples and scores, such as 0.999 "
                              "(0: none)"),
    spectral_norm: bool = typer.Option(False, help="spectral norm in the discriminator, in place of BatchNorm"),
    r1: float = typer.Option(0.0, help="R1 penalty weight on the discriminator's gradient at real images (0: none)"),
    sample_every: int = typer.Option(1, help="save the fixed-noise grid every N epochs"),
    health_samples: int = typer.Option(256, help="generated images scored each epoch (FID, KID, precision, recall) "
                                       "against as many real ones"),
    features: str = typer.Option("auto", help="feature space for diversity/FID/KID: auto, efficientnet_lite0, "
                                 "pixels, run:CLASSIFIER_RUN"),
    name: str = typer.Option(None), runs_dir: str = typer.Option("runs"),
    resume: bool = typer.Option(False, help="continue the run NAME from its last checkpoint"),
    overwrite: bool = typer.Option(False, help="replace an existing run folder"),
    train_options: dict | None = None,
) -> None:
    """Train the seed's DCGAN; sample grids per epoch, curves, health scores and report.html in the run folder."""
    from cnnlab.generate.options import train as train_run

    exit_for(train_run(Options.from_cli(ctx)))


WEIGHTS_HELP = "ema: the averaged generator (where the run keeps one); raw: the trained one"
@app.command("compare")
def compare(runs: list[str] = typer.Argument(..., help="finished GAN run folders"),
            out: str = typer.Option("runs/generate-compare", help="where compare.html/png/json go")) -> None:
    """One table of the runs' scores beside their real-vs-real floors, and their per-epoch FID and recall."""
    from cnnlab.cliutil import print_table
    from cnnlab.generate.compare import compare_runs

    print_table(compare_runs(runs, out))
    console.print(f"wrote {Path(out) / 'compare.html'}")


MAX_SAMPLES = 1024  # a 32 x 32 grid: more is not something to look at
GRID_SUFFIXES = (".png", ".jpg", ".jpeg", ".pdf", ".svg")


def output_file(out: str) -> Path:
    """An image file to write: a known suffix, not a folder."""
    path = Path(out)
    if path.suffix.lower() not in GRID_SUFFIXES:
        raise ConfigError(f"--out must be an image file ending in {', '.join(GRID_SUFFIXES)}, got {out!r}")
    if path.is_dir():
        raise DataError(f"--out {out} is a folder; give a file name such as {path / 'grid.png'}")
    return fresh_path(path)  # never over an earlier grid or any other file


@app.command("sample")
def sample(run: str = typer.Argument(..., help="a GAN run folder"),
           n: int = typer.Option(64, "-n", help=f"how many images (1 to {MAX_SAMPLES})"),
           seed: int = typer.Option(0), out: str = typer.Option("samples.png", help="a .png, .jpg, .pdf or .svg"),
           weights: str = typer.Option("ema", help=WEIGHTS_HELP), device: str = typer.Option("auto")) -> None:
    """A grid of n generated images."""
    import torch

    from cnnlab.generate.grids import save_sample_grid
    from cnnlab.generate.latent import load_generator, render
    from cnnlab.train import resolve_device

    if isinstance(n, bool) or not 1 <= n <= MAX_SAMPLES:
        raise ConfigError(f"-n must be from 1 to {MAX_SAMPLES}, got {n}")
    check_number("seed", seed, low=0, high=2**63 - 1, integer=True)
    check_device(device)
    path = output_file(out)
    G, cfg = load_generator(run, resolve_device(device), weights)
    z = torch.randn(n, cfg.latent_dim, generator=torch.Generator().manual_seed(seed))
    save_sample_grid(render(G, z), path, rows=max(1, int(n ** 0.5)))
    console.print(f"wrote {path}")


def _target(path: str, size: int, channels: int, fit: bool) -> torch.Tensor:
    from cnnlab.data.folders import image_tensor, open_image

    file = Path(path)
    if not file.is_file():
        raise DataError(f"{path} is not an image file" if file.exists() else f"{path} does not exist")
    if not fit:
        img = open_image(file)
        if img.size != (size, size):
            raise DataError(f"{path} is {img.size[0]}x{img.size[1]} but the generator makes {size}x{size} images; "
                            "pass --fit to crop and resize it")
    return image_tensor(file, channels, size)


def output_folder(out: str) -> Path:
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise DataError(f"--out {out} is a file; give a folder for strip.png and latent.pt")
    if folder.is_dir() and any(folder.iterdir()):
        return fresh_path(folder)  # an earlier inversion (or anything else) is kept, not overwritten
    return folder


@app.command("invert")
def invert_cmd(run: str = typer.Argument(...), image: str = typer.Argument(..., help="the image to reproduce"),
               steps: int = typer.Option(40), lr: float = typer.Option(1.0),
               fit: bool = typer.Option(False, help="crop and resize the image to the generator's size"),
               scale_every: int = typer.Option(0, help="also show the latent with every N-th value scaled (0: no)"),
               factor: float = typer.Option(5.0), seed: int = typer.Option(0),
               out: str = typer.Option("inversion", help="a folder: strip.png and latent.pt go there"),
               weights: str = typer.Option("ema", help=WEIGHTS_HELP), device: str = typer.Option("auto")) -> None:
    """Optimise a noise vector so that the generator reproduces IMAGE; saves the strip and the latent."""
    import torch

    from cnnlab.generate import latent as L
    from cnnlab.generate.grids import save_grid
    from cnnlab.train import resolve_device
    from cnnlab.train.checkpoint import save_atomic

    check_number("steps", steps, low=1, high=100_000, integer=True)
    check_number("lr", lr, low=0, low_open=True, high=1000)
    check_number("scale_every", scale_every, low=0, integer=True)
    check_number("factor", factor)
    check_number("seed", seed, low=0, high=2**63 - 1, integer=True)
    check_device(device)
    folder = output_folder(out)
    G, cfg = L.load_generator(run, resolve_device(device), weights)
    target = _target(image, cfg.image_size, cfg.channels, fit)
    result = L.invert(G, target, steps=steps, lr=lr, seed=seed)
    quality = L.reconstruction_quality(target, result.strip[steps])
    folder.mkdir(parents=True, exist_ok=True)
    save_atomic(result.latent, folder / "latent.pt")
    images = [target, *result.strip.values()]
    labels = ["target", *(f"step {s}" for s in result.strip)]
    if scale_every:
        images.append(L.render(G, L.scale_every(result.latent, scale_every, factor).unsqueeze(0))[0])
        labels.append(f"every {scale_every}th x{factor:g}")
    save_grid(torch.stack(images).unsqueeze(0), folder / "strip.png", col_labels=labels)
    console.print(f"MSE {result.mse[0]:.4f} -> {result.mse[-1]:.4f} in {steps} steps (PSNR {quality['psnr']:.2f} dB, "
                  f"SSIM {quality['ssim']:.3f}); wrote {folder / 'strip.png'} and {folder / 'latent.pt'}")


SEED = re.compile(r"seed:(\d{1,18})")


@app.command("interpolate")
def interpolate(run: str = typer.Argument(...),
                a: str = typer.Argument(..., help="an image file, a latent.pt, or seed:N"),
                b: str = typer.Argument(..., help="an image file, a latent.pt, or seed:N"),
                steps: int = typer.Option(8, help="images in the row, the two ends included (2 to 100)"),
                fit: bool = typer.Option(False), out: str = typer.Option("interpolation.png"),
                weights: str = typer.Option("ema", help=WEIGHTS_HELP), device: str = typer.Option("auto")) -> None:
    """The grid of weighted averages between two latents (images are inverted first)."""
    import torch

    from cnnlab.generate import latent as L
    from cnnlab.generate.grids import save_grid
    from cnnlab.train import resolve_device

    check_number("steps", steps, low=2, high=L.MAX_INTERPOLATION_STEPS, integer=True)
    check_device(device)
    path = output_file(out)
    for item in (a, b):
        if item.startswith("seed:") and not SEED.fullmatch(item):
            raise ConfigError(f"{item!r}: seed:N takes a whole number N >= 0, such as seed:1")
    G, cfg = L.load_generator(run, resolve_device(device), weights)

    def latent_of(item: str) -> torch.Tensor:
        if item.startswith("seed:"):
            return torch.randn(cfg.latent_dim, generator=torch.Generator().manual_seed(int(item[5:])))
        if Path(item).suffix.lower() == ".pt":
            return L.load_latent(item, cfg.latent_dim)
        return L.invert(G, _target(item, cfg.image_size, cfg.channels, fit)).latent

    latents = L.interpolation_latents(latent_of(a), latent_of(b), steps)
    images = L.render(G, latents)
    save_grid(images.unsqueeze(0), path, col_labels=[f"{t:.2f}" for t in torch.linspace(0, 1, steps)])
    console.print(f"wrote {path}")
