"""`cnnlab generate ...`: train, sample, invert, interpolate."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import typer

from cnnlab.data.augment import parse_augment
from cnnlab.train.run import console

app = typer.Typer(no_args_is_help=True)


@app.command("train")
def train(
    data: str = typer.Option(..., "--data", help="a folder of photos, folder:PATH, or DATASET[:CLASS] (cifar10:cat)"),
    data_dir: str = typer.Option(None, "--data-dir", help="folder with the dataset's official files"),
    image_size: int = typer.Option(64, help="32 or 64"), channels: int = typer.Option(3),
    generator: str = typer.Option("transposed", help="transposed or upsampling (the seed's two)"),
    latent_dim: int = typer.Option(128),
    width: float = typer.Option(1.0, help="filter counts x this (1.0: the seed's; 0.25 for quick CPU trials)"),
    epochs: int = typer.Option(50), batch_size: int = typer.Option(32),
    preset: str = typer.Option("dcgan", help="Adam settings: dcgan (2e-4, beta1 0.5) or seed (1e-4, Keras betas)"),
    lr_d: float = typer.Option(None, help="discriminator learning rate (default: the preset's)"),
    lr_g: float = typer.Option(None, help="generator learning rate (default: the preset's)"),
    label_noise: float = typer.Option(0.05), augment: str = typer.Option("seed", help="seed (flip, zoom 0.1, "
                                                                          "rotation 36 deg), none, or a list"),
    sample_every: int = typer.Option(1, help="save the fixed-noise grid every N epochs"),
    features: str = typer.Option("auto", help="feature space for diversity/FID/KID: auto, efficientnet_lite0, "
                                 "pixels, run:CLASSIFIER_RUN"),
    seed: int = typer.Option(0), device: str = typer.Option("auto"), precision: str = typer.Option("auto"),
    max_seconds: float = typer.Option(None, help="time budget: stop after the epoch that spends it"),
    name: str = typer.Option(None), runs_dir: str = typer.Option("runs"),
    resume: bool = typer.Option(False), overwrite: bool = typer.Option(False),
) -> None:
    """Train the seed's DCGAN; sample grids per epoch, curves, health scores and report.html in the run folder."""
    from cnnlab.generate.config import OPTIMIZER_PRESETS, SEED_AUGMENT, GanConfig
    from cnnlab.generate.train import train_gan

    if preset not in OPTIMIZER_PRESETS:
        raise typer.BadParameter(f"preset must be one of {', '.join(OPTIMIZER_PRESETS)}")
    d, g, b1, b2 = OPTIMIZER_PRESETS[preset]
    cfg = GanConfig(data=data, data_dir=data_dir, image_size=image_size, channels=channels, generator=generator,
                    latent_dim=latent_dim, width=width, epochs=epochs, batch_size=batch_size, lr_d=lr_d or d,
                    lr_g=lr_g or g,
                    beta1=b1, beta2=b2, label_noise=label_noise,
                    augment=SEED_AUGMENT if augment == "seed" else parse_augment(augment), sample_every=sample_every,
                    features=features, precision=precision, seed=seed, device=device, max_seconds=max_seconds,
                    name=name, runs_dir=runs_dir)
    result = train_gan(cfg, resume=resume, overwrite=overwrite)
    if result.status == "interrupted":
        sys.exit(130)


@app.command("sample")
def sample(run: str = typer.Argument(..., help="a GAN run folder"), n: int = typer.Option(64, "-n"),
           seed: int = typer.Option(0), out: str = typer.Option("samples.png"), device: str = typer.Option("auto")
           ) -> None:
    """A grid of n generated images."""
    from cnnlab.generate.latent import load_generator, render
    from cnnlab.generate.train import save_sample_grid
    from cnnlab.train import resolve_device

    G, cfg = load_generator(run, resolve_device(device))
    z = torch.randn(n, cfg.latent_dim, generator=torch.Generator().manual_seed(seed))
    save_sample_grid(render(G, z), Path(out), rows=max(1, int(n ** 0.5)))
    console.print(f"wrote {out}")


def _target(path: str, size: int, channels: int, fit: bool) -> torch.Tensor:
    from cnnlab.data.folders import image_tensor, open_image
    from cnnlab.errors import DataError

    if not fit:
        img = open_image(Path(path))
        if img.size != (size, size):
            raise DataError(f"{path} is {img.size[0]}x{img.size[1]} but the generator makes {size}x{size} images; "
                            "pass --fit to crop and resize it")
    return image_tensor(Path(path), channels, size)


@app.command("invert")
def invert_cmd(run: str = typer.Argument(...), image: str = typer.Argument(..., help="the image to reproduce"),
               steps: int = typer.Option(40), lr: float = typer.Option(1.0),
               fit: bool = typer.Option(False, help="crop and resize the image to the generator's size"),
               scale_every: int = typer.Option(0, help="also show the latent with every N-th value scaled"),
               factor: float = typer.Option(5.0), seed: int = typer.Option(0),
               out: str = typer.Option("inversion"), device: str = typer.Option("auto")) -> None:
    """Optimise a noise vector so that the generator reproduces IMAGE; saves the strip and the latent."""
    from cnnlab.generate import latent as L
    from cnnlab.report.plots import save_image_grid
    from cnnlab.train import resolve_device

    G, cfg = L.load_generator(run, resolve_device(device))
    target = _target(image, cfg.image_size, cfg.channels, fit)
    result = L.invert(G, target, steps=steps, lr=lr, seed=seed)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(result.latent, folder / "latent.pt")
    images = [target, *result.strip.values()]
    labels = ["target", *(f"step {s}" for s in result.strip)]
    if scale_every:
        images.append(L.render(G, L.scale_every(result.latent, scale_every, factor).unsqueeze(0))[0])
        labels.append(f"every {scale_every}th x{factor:g}")
    save_image_grid(torch.stack(images).unsqueeze(0), folder / "strip.png", col_labels=labels)
    console.print(f"MSE {result.mse[0]:.4f} -> {result.mse[-1]:.4f} in {steps} steps; wrote {folder / 'strip.png'} "
                  f"and {folder / 'latent.pt'}")


@app.command("interpolate")
def interpolate(run: str = typer.Argument(...),
                a: str = typer.Argument(..., help="an image file, a latent.pt, or seed:N"),
                b: str = typer.Argument(..., help="an image file, a latent.pt, or seed:N"),
                steps: int = typer.Option(8), fit: bool = typer.Option(False),
                out: str = typer.Option("interpolation.png"), device: str = typer.Option("auto")) -> None:
    """The grid of weighted averages between two latents (images are inverted first)."""
    from cnnlab.generate import latent as L
    from cnnlab.report.plots import save_image_grid
    from cnnlab.train import resolve_device

    G, cfg = L.load_generator(run, resolve_device(device))

    def latent_of(item: str) -> torch.Tensor:
        if item.startswith("seed:"):
            return torch.randn(cfg.latent_dim, generator=torch.Generator().manual_seed(int(item[5:])))
        if item.endswith(".pt"):
            return torch.load(item, weights_only=True)
        return L.invert(G, _target(item, cfg.image_size, cfg.channels, fit)).latent

    latents = L.interpolation_latents(latent_of(a), latent_of(b), steps)
    images = L.render(G, latents)
    save_image_grid(images.unsqueeze(0), Path(out), col_labels=[f"{t:.2f}" for t in torch.linspace(0, 1, steps)])
    console.print(f"wrote {out}")
