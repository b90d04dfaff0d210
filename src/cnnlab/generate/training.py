"""GAN training as in the seed: one discriminator round on real + fake (by default the seed's targets 1 / 0 with
uniform noise), then one generator round, each with its own Adam; for small data sets, DiffAugment of both kinds,
an averaged generator, other losses, spectral norm and the R1 penalty. The GAN owns its loop; checkpoints,
precision, progress and the run folder are the shared engine's."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.utils import make_grid

from cnnlab.atomic import replacing
from cnnlab.data.images import ImageData
from cnnlab.data.loader import BatchLoader
from cnnlab.errors import RunFolderError
from cnnlab.generate.config import GanConfig
from cnnlab.generate.data import check_source, load_real_images
from cnnlab.generate.diffaug import augment, augment_pair, parse_policy
from cnnlab.generate.ema import Ema
from cnnlab.generate.health import FeatureSpace, RealHalves, diversity_ratio, feature_space, scores
from cnnlab.generate.nets import Discriminator, create_generator
from cnnlab.options import said
from cnnlab.report.plots import save_image_grid
from cnnlab.train import RunDir, resolve_device, seed_everything
from cnnlab.train.device import autocast
from cnnlab.train.engine import Engine, EngineSpec, EngineState
from cnnlab.train.epoch import Deadline
from cnnlab.train.run import start_run

FIXED_SAMPLES = (4, 6)  # the fixed noise batch of 24, drawn as 4 rows of 6
COLLAPSE_WARNING = 0.5  # diversity ratio below this: the report warns of mode collapse
MAX_REAL_FEATURES = 5000  # training images embedded once, for the scores and the memorisation check


R1_EVERY = 4  # the R1 penalty on every 4th discriminator step, weighted x4 (lazy regularisation, StyleGAN2)


class GanTrainer:
    """A generator, a discriminator, their optimizers, the averaged generator and the fixed noise batch."""

    def __init__(self, cfg: GanConfig, device: torch.device) -> None:
        self.cfg, self.device = cfg, device
        torch.manual_seed(cfg.seed)
        self.G = create_generator(cfg.generator, cfg.latent_dim, cfg.image_size, cfg.channels, cfg.width).to(device)
        self.D = Discriminator(cfg.image_size, cfg.channels, width=cfg.width, spectral_norm=cfg.spectral_norm
                               ).to(device)
        fused = device.type == "cuda"
        self.opt_g = torch.optim.Adam(self.G.parameters(), cfg.lr_g, betas=(cfg.beta1, cfg.beta2), fused=fused)
        self.opt_d = torch.optim.Adam(self.D.parameters(), cfg.lr_d, betas=(cfg.beta1, cfg.beta2), fused=fused)
        self.ema = Ema(self.G, cfg.ema) if cfg.ema > 0 else None
        self.ops = parse_policy(cfg.diffaug)
        self.steps = 0  # discriminator steps so far (when the lazy R1 penalty falls)
        g = torch.Generator().manual_seed(cfg.seed + 24)
        self.fixed_z = torch.randn(FIXED_SAMPLES[0] * FIXED_SAMPLES[1], cfg.latent_dim, generator=g).to(device)

    def noise(self, n: int, g: torch.Generator) -> torch.Tensor:
        return torch.randn(n, self.cfg.latent_dim, generator=g, device=self.device)

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """The discriminator's loss on its logits for real and generated images (cfg.loss)."""
        if self.cfg.loss == "hinge":
            return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
        if self.cfg.loss == "nonsaturating":
            return F.softplus(-real).mean() + F.softplus(fake).mean()
        n = len(real)  # bce, the seed's: one batch, targets 1 / 0 with uniform noise
        target = torch.cat([torch.ones(n, device=self.device), torch.zeros(n, device=self.device)])
        noise = (torch.rand(2 * n, generator=g, device=self.device) * 2 - 1) * self.cfg.label_noise
        return F.binary_cross_entropy_with_logits(torch.cat([real, fake]), (target + noise).clamp(0, 1))

    def g_loss(self, fooled: torch.Tensor) -> torch.Tensor:
        """The generator's loss on the discriminator's logits for its images: hinge -D(G(z)); otherwise the BCE
        against "real", softplus(-D(G(z)))."""
        return -fooled.mean() if self.cfg.loss == "hinge" else F.softplus(-fooled).mean()

    def train_step(self, real: torch.Tensor, g: torch.Generator, z_d: torch.Tensor | None = None,
                   z_g: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """One discriminator round, then one generator round, on a batch of real images (B, C, S, S) in [0, 1].
        With DiffAugment the discriminator sees both kinds augmented alike in both rounds. z_d / z_g: the noise
        of each round (default: drawn from g)."""
        cfg, n = self.cfg, len(real)
        self.G.train()
        self.D.train()
        r1 = cfg.r1 > 0 and self.steps % R1_EVERY == 0
        with autocast(self.device, cfg.precision):
            fake = self.G(self.noise(n, g) if z_d is None else z_d)
        real_in, fake_in = augment_pair(real, fake.detach().float(), self.ops, g)
        if r1:
            real_in = real_in.detach().requires_grad_(True)
        with autocast(self.device, cfg.precision):
            logits = self.D(torch.cat([real_in, fake_in])).float()  # (2B,) one batch, as the seed
        d_loss = self.d_loss(logits[:n], logits[n:], g)
        loss = d_loss
        out = {}
        if r1:  # gamma / 2 E ||grad_x D(x)||^2 at (augmented) real images
            (grad,) = torch.autograd.grad(logits[:n].sum(), real_in, create_graph=True)
            penalty = grad.float().square().sum((1, 2, 3)).mean() * (cfg.r1 / 2)
            loss = d_loss + penalty * R1_EVERY
            out["r1"] = penalty.detach()
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        self.steps += 1
        # With BatchNorm, the generator's round has the discriminator judge its fakes in the company they were
        # judged in during the discriminator's round: beside the real batch. Alone, the fakes would be normalised
        # by BatchNorm with their own batch statistics, and with running statistics by stale ones (they lag the
        # weights); either way the generator wins by that alone: measured on CIFAR-10 cats, g_loss near 0
        # while D(fake) stayed near 0, and the samples collapsed to a grey checkerboard.
        with autocast(self.device, cfg.precision):
            fakes = self.G(self.noise(n, g) if z_g is None else z_g)
        if self.D.batch_norm:
            real_in, fakes_in = augment_pair(real, fakes.float(), self.ops, g)
            with autocast(self.device, cfg.precision):
                fooled = self.D(torch.cat([real_in, fakes_in])).float()[n:]
        else:
            with autocast(self.device, cfg.precision):
                fooled = self.D(augment(fakes.float(), self.ops, g)).float()
        g_loss = self.g_loss(fooled)
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        if self.ema is not None:
            self.ema.update(self.G)
        p = torch.sigmoid(logits.detach())
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), "d_real": p[:n].mean(), "d_fake": p[n:].mean(),
                **out}

    def generator(self, weights: str = "ema") -> torch.nn.Module:
        """The averaged generator (when the run keeps one) or the raw one."""
        return self.ema.net if weights == "ema" and self.ema is not None else self.G

    @torch.no_grad()
    def generate(self, z: torch.Tensor, batch_size: int = 256, weights: str = "ema") -> torch.Tensor:
        """Images (N, C, S, S) in [0, 1] from latents (N, latent), by the averaged generator where there is one
        (weights='raw': the trained one), in inference mode."""
        G = self.generator(weights)
        was = G.training
        G.eval()
        out = torch.cat([G(z[i:i + batch_size].to(self.device)).float() for i in range(0, len(z), batch_size)])
        G.train(was)
        return out

    def state_dict(self) -> dict:
        """The checkpoint's parts, in the shared format: the (raw) generator is the model."""
        nets = {"D": self.D.state_dict()}
        if self.ema is not None:
            nets["G_ema"] = self.ema.state_dict()
        return {"model": self.G.state_dict(), "nets": nets, "steps": self.steps,
                "optimizers": {"g": self.opt_g.state_dict(), "d": self.opt_d.state_dict()},
                "fixed_z": self.fixed_z.cpu()}

    def load_state_dict(self, state: dict) -> None:
        try:
            self.G.load_state_dict(state["model"])
            self.D.load_state_dict(state["nets"]["D"])
            self.opt_g.load_state_dict(state["optimizers"]["g"])
            self.opt_d.load_state_dict(state["optimizers"]["d"])
            self.fixed_z = state["fixed_z"].to(self.device)
            if self.ema is not None:
                self.ema.load_state_dict(state["nets"]["G_ema"])
            self.steps = int(state.get("steps", 0))
        except (KeyError, TypeError, RuntimeError, AttributeError, ValueError) as exc:
            raise RunFolderError(f"the run's last checkpoint does not fit its GAN ({type(exc).__name__}: "
                                 f"{str(exc).splitlines()[0][:160]}); it was replaced or damaged: restore it, "
                                 f"or start the run again with {said('overwrite', True)}") from exc


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
                             f"settings or start a new run with {said('name')}")
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
    state = EngineState()
    if ckpt is not None:
        trainer.load_state_dict(ckpt)
        state = EngineState(**ckpt["engine"])
    space = feature_space(cfg.features, cfg.channels, device)
    order = torch.randperm(len(real.images), generator=torch.Generator().manual_seed(cfg.seed))[:MAX_REAL_FEATURES]
    reals = RealFeatures(real.images[order], space.embed(real.images[order].float() / 255))
    halves = RealHalves.split(reals.features, cfg.health_samples, cfg.seed)
    run.log(f"{cfg.generator} generator on {len(real.images)} images of {cfg.channels}x{cfg.image_size}x"
            f"{cfg.image_size}, batch {cfg.batch_size}, Adam D {cfg.lr_d} G {cfg.lr_g} (beta1 {cfg.beta1}), "
            f"{cfg.loss} loss, DiffAugment {cfg.diffaug}, EMA {cfg.ema or 'none'}, device {device}")
    run.log(f"scored each epoch in {space.name}: {len(halves.b)} samples against as many real images; the "
            f"real-vs-real floor (two disjoint halves): {describe_scores(halves.floor)}")
    loader = BatchLoader(ImageData(real.images, torch.zeros(len(real.images), dtype=torch.long), ["real"]),
                         cfg.batch_size, shuffle=True, augment=cfg.augment, seed=cfg.seed, device=device,
                         drop_last=len(real.images) > cfg.batch_size)
    engine = Engine(gan_spec(cfg), device=device, run=run, state=state, callbacks=callbacks)
    with engine.session():
        engine.run_until(cfg.epochs, GanEpoch(trainer, loader, engine, space, halves), trainer.state_dict)
    summary = {"status": state.status}
    if state.status in ("finished", "budget-spent"):
        from cnnlab.generate.report import finish

        summary = finish(run, cfg, trainer, reals, space, state.history, state.status)
    return GanResult(run, state.status, state.history, summary)


def gan_spec(cfg: GanConfig) -> EngineSpec:
    """The engine's view of a GAN run: no best checkpoint (no validation loss), both losses must stay finite."""
    return EngineSpec(task="generate", config=cfg.to_dict(), seed=cfg.seed, total_epochs=cfg.epochs,
                      max_seconds=cfg.max_seconds, monitor=None,
                      finite=(("d_loss", "the discriminator's loss"), ("g_loss", "the generator's loss")),
                      advice=lambda r: f"Lower the learning rates ({said('lr_d')}, {said('lr_g')}).",
                      describe=describe_epoch,
                      tensorboard=cfg.tensorboard)


def describe_scores(s: dict) -> str:
    return f"FID {s['fid']:.1f}, KID {s['kid']:.4f}, precision {s['precision']:.2f}, recall {s['recall']:.2f}"


def describe_epoch(record: dict) -> str:
    warn = "  [mode collapse?]" if record["diversity"] < COLLAPSE_WARNING else ""
    return (f"d_loss {record['d_loss']:.4f}  g_loss {record['g_loss']:.4f}  D(real) {record['d_real']:.2f}  "
            f"D(fake) {record['d_fake']:.2f}  FID {record['fid']:.1f}  recall {record['recall']:.2f}  "
            f"diversity {record['diversity']:.2f}{warn}")


@dataclass
class RealFeatures:
    """The training images scored against (up to MAX_REAL_FEATURES of them) and their features, row for row."""

    images: torch.Tensor  # uint8 (M, C, S, S)
    features: np.ndarray  # (M, F)


@dataclass
class GanEpoch:
    """The GAN's epoch for the engine: a discriminator and a generator round per batch, then the scores of fresh
    samples of the averaged generator against one half of the real features (FID, KID, precision, recall,
    diversity) and, every cfg.sample_every epochs, the grid of the fixed noise batch. On CUDA nothing
    waits for the device until the epoch ends."""

    trainer: GanTrainer
    loader: BatchLoader
    engine: Engine
    space: FeatureSpace
    halves: RealHalves

    def __call__(self, epoch: int) -> dict:
        trainer, cfg, device = self.trainer, self.trainer.cfg, self.trainer.device
        g = torch.Generator(device=device).manual_seed(cfg.seed * 7_919 + epoch + 1)
        self.loader.set_epoch(epoch)
        bar = self.engine.bar(len(self.loader))
        totals: dict[str, torch.Tensor] = {}
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        left = self.engine.seconds_left()
        deadline = None if left is None else Deadline(start + left)
        steps = 0
        for i, (real, _) in enumerate(self.loader):
            for key, value in trainer.train_step(real, g).items():
                totals[key] = totals.get(key, 0) + value.float()
            steps = i + 1
            bar.update(i, totals, steps)
            if deadline is not None and deadline.passed():
                deadline.cut_after = steps
                break
        record = {"epoch": epoch + 1, **{k: v.item() / max(steps, 1) for k, v in totals.items()}}  # waits
        record["seconds"], record["steps"] = time.perf_counter() - start, steps
        bar.close()
        if deadline is not None and deadline.cut_after is not None and steps < len(self.loader):
            self.engine.say(f"time budget spent during epoch {epoch + 1}: stopped after {steps} of "
                            f"{len(self.loader)} steps")
        if all(math.isfinite(v) for v in record.values()):
            z = torch.randn(len(self.halves.b), cfg.latent_dim, generator=torch.Generator().manual_seed(epoch))
            fake = self.space.embed(trainer.generate(z))
            record.update(scores(fake, self.halves.b, seed=epoch))
            record.update({f"floor_{k}": self.halves.floor[k] for k in ("fid", "kid", "precision", "recall")})
            record["diversity"] = diversity_ratio(fake, self.halves.b)
            if (epoch + 1) % cfg.sample_every == 0 or epoch + 1 == cfg.epochs:
                samples = trainer.generate(trainer.fixed_z).cpu()
                save_sample_grid(samples, self.engine.run.path / "epochs" / f"epoch_{epoch + 1:04d}.png")
                self.engine.board.image("samples", make_grid(samples, nrow=FIXED_SAMPLES[1], pad_value=1), epoch + 1)
        return record


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
