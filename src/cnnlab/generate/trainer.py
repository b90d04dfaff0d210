"""The GAN's two players and one training step: a discriminator round on real + fake, then a generator round, each
with its own Adam; DiffAugment of both kinds, the averaged generator, the losses, spectral norm and the R1 penalty."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cnnlab.errors import RunFolderError
from cnnlab.generate.config import GanConfig
from cnnlab.generate.diffaug import augment, augment_pair, parse_policy
from cnnlab.generate.ema import Ema
from cnnlab.generate.grids import FIXED_SAMPLES
from cnnlab.generate.nets import Discriminator, create_generator
from cnnlab.options import said
from cnnlab.train.device import autocast, uses_channels_last

R1_EVERY = 4  # the R1 penalty on every 4th discriminator step, weighted x4 (lazy regularisation, StyleGAN2)


class GanTrainer:
    """A generator, a discriminator, their optimizers, the averaged generator and the fixed noise batch."""

    def __init__(self, cfg: GanConfig, device: torch.device) -> None:
        self.cfg, self.device = cfg, device
        torch.manual_seed(cfg.seed)
        self.G = create_generator(cfg.generator, cfg.latent_dim, cfg.image_size, cfg.channels, cfg.width).to(device)
        self.D = Discriminator(cfg.image_size, cfg.channels, width=cfg.width, spectral_norm=cfg.spectral_norm
                               ).to(device)
        # NHWC and fused Adam on CUDA and CPU: 1.3x a step on the 2-core CPU, 2.4x with bf16 (docs/benchmarks.md)
        self.layout = torch.channels_last if uses_channels_last("auto", device) else torch.contiguous_format
        self.G.to(memory_format=self.layout)
        self.D.to(memory_format=self.layout)
        fused = device.type in ("cuda", "cpu")
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
        real = real.contiguous(memory_format=self.layout)
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
