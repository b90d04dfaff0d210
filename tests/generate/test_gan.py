import copy
import json

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab.data.augment import AugmentConfig
from cnnlab.errors import DataError, RunFolderError
from cnnlab.generate.config import GanConfig
from cnnlab.generate.data import load_real_images
from cnnlab.generate.health import diversity_ratio, frechet_distance, kernel_distance
from cnnlab.generate.latent import interpolation_latents, invert, load_generator, render, scale_every
from cnnlab.generate.nets import Discriminator, create_generator
from cnnlab.generate.trainer import GanTrainer
from cnnlab.generate.training import train_gan
from tests.cli import run_cli


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("name", ["transposed", "upsampling"])
def test_generator_and_discriminator_shapes(name, size):
    G = create_generator(name, 128, size, 3)
    images = G(torch.randn(2, 128))
    assert images.shape == (2, 3, size, size) and images.min() >= 0 and images.max() <= 1
    assert G.project.out_features == 128 * (size // 8) ** 2  # 8192 at 64, the seed's Dense
    D = Discriminator(size, 3)
    assert D(images).shape == (2,)
    convs = [m.out_channels for m in D.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs == [64, 128, 128]


@pytest.mark.parametrize("loss,spectral_norm", [("bce", False), ("nonsaturating", False), ("hinge", True)])
def test_one_step_moves_both_networks_the_intended_way(loss, spectral_norm):
    cfg = GanConfig(image_size=32, label_noise=0.0, lr_d=1e-3, lr_g=1e-3, device="cpu", diffaug="none", loss=loss,
                    spectral_norm=spectral_norm)
    trainer = GanTrainer(cfg, torch.device("cpu"))
    real = torch.rand(16, 3, 32, 32) * 0.5 + 0.5  # bright "real" images
    z_d, z_g = torch.randn(16, 128), torch.randn(16, 128)

    def d_loss(D, G):
        torch.manual_seed(0)
        with torch.no_grad():
            logits = D(torch.cat([real, G(z_d)]))
            return float(trainer.d_loss(logits[:16], logits[16:], torch.Generator()))

    def g_loss(D, G):
        torch.manual_seed(0)
        with torch.no_grad():
            return float(trainer.g_loss(D(torch.cat([real, G(z_g)]))[16:]))

    D0, G0 = copy.deepcopy(trainer.D), copy.deepcopy(trainer.G)
    torch.manual_seed(0)
    trainer.train_step(real, torch.Generator(), z_d=z_d, z_g=z_g)
    assert d_loss(trainer.D, G0) < d_loss(D0, G0)  # the discriminator tells these apart better
    assert g_loss(trainer.D, trainer.G) < g_loss(trainer.D, G0)  # the generator fools it better


def gan_config(tmp_path, epochs=2, **kw):
    kw = {"batch_size": 32, **kw}
    return GanConfig(data="digits:3", image_size=32, channels=1, width=0.25, epochs=epochs,
                     features="pixels", health_samples=64, augment=AugmentConfig(hflip=True, zoom=0.1, rotation=36.0),
                     device="cpu", runs_dir=str(tmp_path), name="gan", **kw)


def test_resume_equals_uninterrupted(tmp_path):
    def stop_after_one(epoch, record):
        if epoch == 1:
            raise KeyboardInterrupt

    full = train_gan(gan_config(tmp_path / "a"))
    assert train_gan(gan_config(tmp_path / "b"), callbacks=(stop_after_one,)).status == "interrupted"
    resumed = train_gan(gan_config(tmp_path / "b"), resume=True)
    assert resumed.status == "finished" and len(resumed.history) == 2
    for key in ("d_loss", "g_loss", "diversity"):
        assert [r[key] for r in resumed.history] == pytest.approx([r[key] for r in full.history])
    a = torch.load(tmp_path / "a/generate/gan/checkpoints/last.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "b/generate/gan/checkpoints/last.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    run = full.run.path
    assert (run / "epochs/epoch_0002.png").is_file() and (run / "report.html").is_file()
    assert full.summary["fid"] > 0 and "pixels" in full.summary["features"]
    with pytest.raises(RunFolderError, match="generator transposed .asked: upsampling"):
        train_gan(GanConfig(**{**gan_config(tmp_path / "a").__dict__, "generator": "upsampling"}), resume=True)


def test_time_budget_stops_mid_epoch(tmp_path):
    """A budget shorter than one epoch ends the run after the step that spends it, not after the epoch."""
    result = train_gan(gan_config(tmp_path, epochs=3, batch_size=8, max_seconds=0.05))
    assert result.status == "budget-spent" and len(result.history) == 1
    steps = result.history[0]["steps"]
    assert 1 <= steps < 180 // 8  # digits:3 holds about 180 images: a whole epoch is 22 steps
    assert result.summary["epochs"] == 1


def test_inversion_reproduces_an_image_the_generator_can_make():
    torch.manual_seed(0)
    G = create_generator("transposed", 128, 32, 3).eval()
    target = render(G, torch.randn(1, 128))[0]
    result = invert(G, target, seed=1)
    assert sorted(result.strip) == [0, 1, 4, 10, 20, 40]
    assert result.mse[-1] < 0.2 * result.mse[0], result.mse[::10]
    with pytest.raises(DataError, match="pass --fit"):
        invert(G, torch.rand(3, 64, 64))


def test_interpolation_endpoints_and_the_seeds_edit():
    a, b = torch.randn(128), torch.randn(128)
    grid = interpolation_latents(a, b, 7)
    assert torch.equal(grid[0], a) and torch.equal(grid[-1], b)
    assert torch.allclose(grid[3], (a + b) / 2, atol=1e-6)
    edited = scale_every(a, 5, 5.0)
    assert torch.equal(edited[::5], a[::5] * 5) and torch.equal(edited[1::5], a[1::5])


def test_health_scores_see_collapse_and_distance():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(300, 8))
    collapsed = np.repeat(rng.normal(size=(1, 8)), 300, 0) + 0.01 * rng.normal(size=(300, 8))
    assert diversity_ratio(real[:150], real[150:]) == pytest.approx(1, abs=0.1)
    assert diversity_ratio(collapsed, real) < 0.05
    assert frechet_distance(real[:150], real[150:]) < frechet_distance(real + 2, real)
    assert kernel_distance(real[:150], real[150:])[0] < kernel_distance(real + 2, real)[0]


def test_folders_with_few_broken_or_mixed_images(tmp_path):
    few = tmp_path / "few"
    few.mkdir()
    for i in range(5):
        Image.new("RGB", (40, 30), (i * 40, 0, 0)).save(few / f"{i}.png")
    with pytest.raises(DataError, match="gives 5 readable images; a GAN needs at least 16"):
        load_real_images(str(few), data_dir=None, image_size=32)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for i in range(20):
        size = (50, 40) if i % 2 else (32, 32)
        Image.new("L" if i % 3 == 0 else "RGBA", size, 100).save(mixed / f"{i}.png")
    (mixed / "broken.jpg").write_bytes(b"not a jpeg")
    real = load_real_images(str(mixed), data_dir=None, image_size=32)
    assert real.images.shape == (20, 3, 32, 32)
    assert any("resized 10 images" in n for n in real.notes) and any("to RGB" in n for n in real.notes)
    assert [p for p, _ in real.skipped] == [str(mixed / "broken.jpg")]


def test_cli_train_sample_invert_interpolate(tmp_path, digits):
    train = ["generate", "train", "--data", "digits:3", "--channels", "1", "--epochs", "1",  # digits: 32 px
             "--batch-size", "32", "--width", "0.25", "--features", "pixels", "--name", "g",
             "--runs-dir", str(tmp_path)]
    done = run_cli(*train, cwd=tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout
    run = str(tmp_path / "generate" / "g")
    assert json.loads((tmp_path / "generate/g/config.json").read_text())["image_size"] == 32
    assert run_cli("generate", "sample", run, "-n", "9", "--out", "s.png", cwd=tmp_path).returncode == 0
    Image.fromarray(digits[0][3]).save(tmp_path / "three.png")
    done = run_cli("generate", "invert", run, "three.png", cwd=tmp_path)
    assert done.returncode == 2 and "pass --fit" in done.stdout
    done = run_cli("generate", "invert", run, "three.png", "--fit", "--scale-every", "5", "--out", "inv", cwd=tmp_path)
    assert done.returncode == 0 and (tmp_path / "inv/strip.png").is_file(), done.stderr + done.stdout
    done = run_cli("generate", "interpolate", run, "seed:1", "inv/latent.pt", "--out", "i.png", cwd=tmp_path)
    assert done.returncode == 0 and (tmp_path / "i.png").is_file(), done.stderr + done.stdout
    G, cfg = load_generator(run, torch.device("cpu"))
    assert cfg.image_size == 32 and G.channels == 1 and cfg.width == 0.25
