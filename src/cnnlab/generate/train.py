"""GAN training as in the seed: one discriminator round on real + fake (targets 1 / 0 with uniform noise),
then one generator round, each with its own Adam. The GAN owns its loop; checkpoints, precision, progress
and the run folder are the shared engine's."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from cnnlab.atomic import replacing
from cnnlab.data.images import ImageData
from cnnlab.data.loader import BatchLoader
from cnnlab.errors import RunFolderError, TrainingDiverged
from cnnlab.generate.config import GanConfig
from cnnlab.generate.data import check_source, load_real_images
from cnnlab.generate.health import FeatureSpace, diversity_ratio, feature_space
from cnnlab.generate.nets import Discriminator, create_generator
from cnnlab.report.plots import save_image_grid
from cnnlab.train import RunDir, resolve_device, seed_everything
from cnnlab.train.device import autocast
from cnnlab.train.loop import make_progress
from cnnlab.train.run import start_run

FIXED_SAMPLES = (4, 6)  # the fixed noise batch of 24, drawn as 4 rows of 6
COLLAPSE_WARNING = 0.5  # diversity ratio below this: the report warns of mode collapse


class GanTrainer:
    """A generator, a discriminator, their optimizers and the fixed noise batch."""

    def __init__(self, cfg: GanConfig, device: torch.device) -> None:
        self.cfg, self.device = cfg, device
        torch.manual_seed(cfg.seed)
        self.G = create_generator(cfg.generator, cfg.latent_dim, cfg.image_size, cfg.channels, cfg.width).to(device)
        self.D = Discriminator(cfg.image_size, cfg.channels, width=cfg.width).to(device)
        fused = device.type == "cuda"
        self.opt_g = torch.optim.Adam(self.G.parameters(), cfg.lr_g, betas=(cfg.beta1, cfg.beta2), fused=fused)
        self.opt_d = torch.optim.Adam(self.D.parameters(), cfg.lr_d, betas=(cfg.beta1, cfg.beta2), fused=fused)
        g = torch.Generator().manual_seed(cfg.seed + 24)
        self.fixed_z = torch.randn(FIXED_SAMPLES[0] * FIXED_SAMPLES[1], cfg.latent_dim, generator=g).to(device)

    def noise(self, n: int, g: torch.Generator) -> torch.Tensor:
        return torch.randn(n, self.cfg.latent_dim, generator=g, device=self.device)

    def train_step(self, real: torch.Tensor, g: torch.Generator, z_d: torch.Tensor | None = None,
                   z_g: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """One discriminator round, then one generator round, on a batch of real images (B, C, S, S) in [0, 1].
        z_d / z_g: the noise of each round (default: drawn from g)."""
        cfg, n = self.cfg, len(real)
        self.G.train()
        self.D.train()
        with autocast(self.device, cfg.precision):
            fake = self.G(self.noise(n, g) if z_d is None else z_d)
            logits = self.D(torch.cat([real, fake.detach()])).float()  # (2B,) one batch, as the seed
        target = torch.cat([torch.ones(n, device=self.device), torch.zeros(n, device=self.device)])
        noisy = (target + (torch.rand(2 * n, generator=g, device=self.device) * 2 - 1) * cfg.label_noise).clamp(0, 1)
        d_loss = F.binary_cross_entropy_with_logits(logits, noisy)
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        # The generator's round has the discriminator judge its fakes in the company they were judged in
        # during the discriminator's round: beside the real batch. Alone, the fakes would be normalised by
        # BatchNorm with their own batch statistics, and with running statistics by stale ones (they lag the
        # weights); either way the generator wins by that alone: measured on CIFAR-10 cats, g_loss near 0
        # while D(fake) stayed near 0, and the samples collapsed to a grey checkerboard.
        with autocast(self.device, cfg.precision):
            fakes = self.G(self.noise(n, g) if z_g is None else z_g)
            fooled = self.D(torch.cat([real, fakes])).float()[n:]
        g_loss = F.binary_cross_entropy_with_logits(fooled, torch.ones(n, device=self.device))  # "these are real"
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        p = torch.sigmoid(logits.detach())
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), "d_real": p[:n].mean(), "d_fake": p[n:].mean()}

    @torch.no_grad()
    def generate(self, z: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Images (N, C, S, S) in [0, 1] from latents (N, latent), generator in inference mode."""
        self.G.eval()
        return torch.cat([self.G(z[i:i + batch_size].to(self.device)).float() for i in range(0, len(z), batch_size)])

    def state_dict(self) -> dict:
        return {"G": self.G.state_dict(), "D": self.D.state_dict(), "opt_g": self.opt_g.state_dict(),
                "opt_d": self.opt_d.state_dict(), "fixed_z": self.fixed_z.cpu()}

    def load_state_dict(self, state: dict) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.fixed_z = state["fixed_z"].to(self.device)


@dataclass
class GanResult:
    run: RunDir
    status: str
    history: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)


def open_run(cfg: GanConfig, resume: bool, overwrite: bool,
             given: set[str] | None = None) -> tuple[RunDir, GanConfig, dict | None]:
    run, stored, ckpt = start_run(cfg, GanConfig.from_dict, resume=resume, overwrite=overwrite, given=given,
                                  extendable=("epochs",))
    if ckpt is None:
        return run, cfg, None
    if given is None and stored.network() != cfg.network():  # from the CLI, `given` options are checked instead
        diff = ", ".join(f"{k} {stored.network()[k]} (asked: {cfg.network()[k]})"
                         for k in stored.network() if stored.network()[k] != cfg.network()[k])
        raise RunFolderError(f"cannot resume {run.path}: it was trained with {diff}; resume with the run's own "
                             "settings or start a new run with --name")
    run.log(f"resuming {run.path} after epoch {ckpt['epoch']}")
    return run, stored, ckpt


def train_gan(cfg: GanConfig, *, resume: bool = False, overwrite: bool = False,
              callbacks: tuple[Callable[[int, dict], None], ...] = (), given: set[str] | None = None) -> GanResult:
    """Train `cfg` into its run folder (with resume, continuing from its last checkpoint exactly)."""
    if not resume:  # a typo in --data or --features is named before a run folder is made
        check_source(cfg.data)
        if cfg.features.startswith("run:"):
            RunDir.open(cfg.features[4:], task="classify")
    run, cfg, ckpt = open_run(cfg, resume, overwrite, given)
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed)
    real = load_real_images(cfg.data, data_dir=cfg.data_dir, image_size=cfg.image_size, channels=cfg.channels)
    for note in real.notes:
        run.log(note, style="cyan")
    for path, reason in real.skipped:
        run.log(f"skipped unreadable image {path}: {reason}", style="yellow")
    trainer = GanTrainer(cfg, device)
    history: list[dict] = []
    if ckpt is not None:
        trainer.load_state_dict(ckpt["trainer"])
        history = ckpt["history"]
    space = feature_space(cfg.features, cfg.channels, device)
    real_features = space.embed(real.images[torch.randperm(len(real.images),
                                generator=torch.Generator().manual_seed(cfg.seed))[:1000]].float() / 255)
    run.log(f"{cfg.generator} generator on {len(real.images)} images of {cfg.channels}x{cfg.image_size}x"
            f"{cfg.image_size}, batch {cfg.batch_size}, Adam D {cfg.lr_d} G {cfg.lr_g} (beta1 {cfg.beta1}), "
            f"device {device}; diversity in {space.name}")
    loader = BatchLoader(ImageData(real.images, torch.zeros(len(real.images), dtype=torch.long), ["real"]),
                         cfg.batch_size, shuffle=True, augment=cfg.augment, seed=cfg.seed, device=device,
                         drop_last=len(real.images) > cfg.batch_size)
    status = fit_gan(trainer, loader, run, history, space, real_features, callbacks)
    summary = {"status": status}
    if status in ("finished", "budget-spent"):
        from cnnlab.generate.report import finish

        summary = finish(run, cfg, trainer, real.images, space, history, status)
    return GanResult(run, status, history, summary)


def fit_gan(trainer: GanTrainer, loader: BatchLoader, run: RunDir, history: list[dict], space: FeatureSpace,
            real_features, callbacks) -> str:
    """Epochs until cfg.epochs (or the time budget); returns the status. Ctrl-C keeps the last epoch's state."""
    cfg = trainer.cfg
    try:
        with make_progress() as progress:
            while len(history) < cfg.epochs:
                record = gan_epoch(trainer, loader, len(history), progress, space, real_features)
                history.append(record)
                finish_epoch(trainer, run, history)
                for callback in callbacks:
                    callback(len(history), record)
                if cfg.max_seconds is not None and sum(r["seconds"] for r in history) >= cfg.max_seconds:
                    run.log(f"time budget spent after epoch {len(history)}")
                    return "budget-spent"
    except KeyboardInterrupt:
        run.log(f"interrupted: state of epoch {len(history)} is saved; continue with --resume", style="yellow")
        return "interrupted"
    return "finished"


def gan_epoch(trainer: GanTrainer, loader: BatchLoader, epoch: int, progress, space: FeatureSpace,
              real_features) -> dict:
    cfg, device = trainer.cfg, trainer.device
    torch.manual_seed(cfg.seed * 1_000_003 + epoch)  # dropout depends on (seed, epoch) alone
    g = torch.Generator(device=device).manual_seed(cfg.seed * 7_919 + epoch + 1)
    loader.set_epoch(epoch)
    task = progress.add_task(f"epoch {epoch + 1}/{cfg.epochs}", total=len(loader), metrics="")
    totals: dict[str, torch.Tensor] = {}
    start = time.perf_counter()
    for i, (real, _) in enumerate(loader):
        for key, value in trainer.train_step(real, g).items():
            totals[key] = totals.get(key, 0) + value
        if i % max(1, len(loader) // 10) == 0 or i == len(loader) - 1:
            progress.update(task, completed=i + 1, metrics=" ".join(f"{k}={v.item() / (i + 1):.3f}"
                                                                    for k, v in totals.items()))
    seconds = time.perf_counter() - start
    progress.remove_task(task)
    record = {"epoch": epoch + 1, **{k: v.item() / max(len(loader), 1) for k, v in totals.items()}, "seconds": seconds}
    if not all(math.isfinite(v) for v in record.values()):
        raise TrainingDiverged(f"a GAN loss became non-finite in epoch {epoch + 1}; the last good checkpoint (epoch "
                               f"{epoch}) is kept. Lower the learning rates.")
    z = torch.randn(cfg.health_samples, cfg.latent_dim, generator=torch.Generator().manual_seed(epoch))
    record["diversity"] = diversity_ratio(space.embed(trainer.generate(z)), real_features)
    return record


def finish_epoch(trainer: GanTrainer, run: RunDir, history: list[dict]) -> None:
    cfg, record = trainer.cfg, history[-1]
    epoch = record["epoch"]
    warn = "  [mode collapse?]" if record["diversity"] < COLLAPSE_WARNING else ""
    run.log(f"epoch {epoch:>3}  d_loss {record['d_loss']:.4f}  g_loss {record['g_loss']:.4f}  D(real) "
            f"{record['d_real']:.2f}  D(fake) {record['d_fake']:.2f}  diversity {record['diversity']:.2f}{warn}  "
            f"{record['seconds']:.1f}s")
    if epoch % cfg.sample_every == 0 or epoch == cfg.epochs:
        save_sample_grid(trainer.generate(trainer.fixed_z).cpu(), run.path / "epochs" / f"epoch_{epoch:04d}.png")
    run.save_checkpoint({"trainer": trainer.state_dict(), "epoch": epoch, "history": history,
                         "config": cfg.to_dict()})
    run.write_metrics(history)


def save_grid(grid: torch.Tensor, path, **labels) -> None:
    """save_image_grid (grid (R, K, C, S, S) in [0, 1]) written to a temporary file beside `path`, then renamed:
    an interrupted write never leaves half an image."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as tmp:
        save_image_grid(grid, tmp, **labels)


def save_sample_grid(images: torch.Tensor, path, rows: int = FIXED_SAMPLES[0]) -> None:
    """(N, C, S, S) in [0, 1] -> a PNG of `rows` rows, blank (white) cells filling the last one."""
    cols = -(-len(images) // rows)
    pad = rows * cols - len(images)
    if pad:
        images = torch.cat([images, torch.ones(pad, *images.shape[1:])])
    save_grid(images.view(rows, cols, *images.shape[1:]), path)
