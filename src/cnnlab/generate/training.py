"""A GAN run: the real images, their features and the real-vs-real floor, the epochs (the players' steps are in
generate/trainer.py) with their scores and sample grids, and the ending. The GAN owns its loop; checkpoints,
precision, progress and the run folder are the shared engine's."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torchvision.utils import make_grid

from cnnlab.data.images import ImageData
from cnnlab.data.loader import BatchLoader
from cnnlab.errors import RunFolderError
from cnnlab.generate.config import GanConfig
from cnnlab.generate.data import check_source, load_real_images
from cnnlab.generate.grids import FIXED_SAMPLES, save_sample_grid
from cnnlab.generate.health import FeatureSpace, RealHalves, diversity_ratio, feature_space, scores
from cnnlab.generate.trainer import GanTrainer
from cnnlab.options import said
from cnnlab.train import RunDir, resolve_device, seed_everything
from cnnlab.train.engine import Engine, EngineSpec, EngineState
from cnnlab.train.epoch import Deadline
from cnnlab.train.run import start_run

COLLAPSE_WARNING = 0.5  # diversity ratio below this: the report warns of mode collapse
MAX_REAL_FEATURES = 5000  # training images embedded once, for the scores and the memorisation check


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
