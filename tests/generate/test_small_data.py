"""Issue 24: DiffAugment, the averaged generator, losses and regularisers, honest scores, memorisation."""

import json

import numpy as np
import pytest
import torch

from cnnlab.errors import ConfigError, RunFolderError
from cnnlab.generate import diffaug, memorisation
from cnnlab.generate.config import BEFORE_SMALL_DATA, GanConfig
from cnnlab.generate.health import RealHalves, frechet_distance, precision_recall, scores
from cnnlab.generate.latent import load_generator, reconstruction_quality
from cnnlab.generate.trainer import GanTrainer
from cnnlab.generate.training import train_gan
from tests.cli import cnnlab
from tests.generate.test_gan import gan_config

OPS = ("color", "translation", "cutout")


def test_diffaug_pairs_real_and_fake_and_lets_the_gradient_through():
    g = torch.Generator().manual_seed(0)
    real = torch.rand(6, 3, 16, 16)
    fake = real.clone().requires_grad_(True)
    a, b = diffaug.augment_pair(real, fake, OPS, g)
    assert torch.equal(a, b.detach())  # image i of each half: the same augmentation
    assert not torch.allclose(a, real)  # and an augmentation it is
    assert not torch.allclose(a[0], a[1] - real[1] + real[0])  # each image its own draw
    b.sum().backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0  # differentiable in the generated images
    assert diffaug.augment(real, (), g) is real and diffaug.parse_policy("none") == ()


def test_translation_and_cutout_do_what_they_say():
    x = torch.zeros(1, 1, 16, 16)
    x[0, 0, 5, 7] = 1.0
    moved = diffaug.apply(x, ("translation",), {"shift": torch.tensor([[2, -3]])})
    assert moved[0, 0, 7, 4] == 1 and moved.sum() == 1  # two rows down, three columns left
    gone = diffaug.apply(x, ("translation",), {"shift": torch.tensor([[12, 0]])})
    assert gone.sum() == 0  # shifted out, filled with black
    ones = torch.ones(2, 3, 16, 16)
    cut = diffaug.apply(ones, ("cutout",), {"cutout": torch.tensor([[8, 8], [0, 0]])})
    assert (cut[0] == 0).all(0).sum() == 64 and (cut[0, :, 4:12, 4:12] == 0).all()  # an 8x8 square, half the side
    assert (cut[1] == 0).all(0).sum() == 16  # at the corner, clipped to 4x4
    with pytest.raises(ConfigError, match="--diffaug"):
        diffaug.parse_policy("translation,flip")


def test_discriminator_sees_real_and_fake_augmented_alike_in_both_rounds():
    """Cutout only: the blanked squares of real[i] and fake[i] must be the same in every batch D judges."""
    cfg = GanConfig(image_size=32, width=0.25, device="cpu", diffaug="cutout", ema=0.0)
    trainer = GanTrainer(cfg, torch.device("cpu"))
    seen = []
    trainer.D.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    real = torch.rand(8, 3, 32, 32) * 0.5 + 0.5  # never 0, and the sigmoid's output never is
    trainer.train_step(real, torch.Generator().manual_seed(1))
    assert len(seen) == 2  # the discriminator's round and the generator's (BatchNorm: fakes beside reals)
    for batch in seen:
        blank = (batch == 0).all(1)  # (2B, S, S)
        assert blank[:8].any() and torch.equal(blank[:8], blank[8:])
    assert not torch.equal((seen[0] == 0).all(1), (seen[1] == 0).all(1))  # a fresh draw per round


def test_ema_generator_differs_from_the_raw_one_and_resumes_exactly(tmp_path):
    def stop_after_one(epoch, record):
        if epoch == 1:
            raise KeyboardInterrupt

    kw = {"ema": 0.9, "loss": "hinge", "spectral_norm": True, "r1": 0.5}
    full = train_gan(gan_config(tmp_path / "a", **kw))
    assert train_gan(gan_config(tmp_path / "b", **kw), callbacks=(stop_after_one,)).status == "interrupted"
    resumed = train_gan(gan_config(tmp_path / "b", **kw), resume=True)
    a = torch.load(tmp_path / "a/generate/gan/checkpoints/last.pt", weights_only=False)
    b = torch.load(tmp_path / "b/generate/gan/checkpoints/last.pt", weights_only=False)
    ema_a, ema_b = a["nets"]["G_ema"]["weights"], b["nets"]["G_ema"]["weights"]
    assert all(torch.equal(ema_a[k], ema_b[k]) for k in ema_a) and a["nets"]["G_ema"]["steps"] == a["steps"] > 0
    assert all(torch.equal(a["nets"]["D"][k], b["nets"]["D"][k]) for k in a["nets"]["D"])
    assert any(not torch.equal(ema_a[k], a["model"][k]) for k in ema_a)  # the average is not the raw generator
    for key in ("d_loss", "g_loss", "r1", "fid", "recall"):
        assert [r[key] for r in resumed.history] == pytest.approx([r[key] for r in full.history])
    z = torch.randn(4, 128)
    averaged, _ = load_generator(full.run.path, torch.device("cpu"))
    raw, _ = load_generator(full.run.path, torch.device("cpu"), "raw")
    with torch.no_grad():
        assert not torch.allclose(averaged(z), raw(z))
    s = full.summary
    assert s["scored"].startswith("averaged") and s["raw"]["fid"] != s["fid"]
    assert {"precision", "recall", "floor", "fid_over_floor", "memorised"} <= set(s)
    assert (full.run.path / "memorisation.png").is_file()
    with pytest.raises(ConfigError, match="--weights"):
        load_generator(full.run.path, torch.device("cpu"), "best")


def test_a_run_made_before_these_settings_reads_as_it_trained(tmp_path):
    run = train_gan(gan_config(tmp_path, epochs=1, ema=0.0)).run.path
    stored = json.loads((run / "config.json").read_text())
    for key in BEFORE_SMALL_DATA:
        stored.pop(key)
    cfg = GanConfig.from_dict({**stored, "health_samples": 4})  # allowed then, at least 8 now
    assert (cfg.loss, cfg.diffaug, cfg.ema, cfg.spectral_norm, cfg.r1) == ("bce", "none", 0.0, False, 0.0)
    assert cfg.health_samples == 8
    G, _ = load_generator(run, torch.device("cpu"))  # no averaged weights kept: the raw ones
    assert G.training is False


def test_precision_and_recall_on_known_cases():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 4))
    b = np.concatenate([a[:100] + 100, a[100:]])  # two clusters: one far away, one where a is
    assert precision_recall(a, a) == (1.0, 1.0)
    assert precision_recall(a + 1000, a) == (0.0, 0.0)
    assert precision_recall(a[:100] + 100, b) == (1.0, 0.5)  # exactly b's far cluster: realistic, half the data
    precision, recall = precision_recall(a[100:] + 100, b)  # new points from the far cluster's distribution
    assert precision > 0.8 and recall == pytest.approx(0.5, abs=0.05)
    collapsed = np.repeat(a[:1], 50, 0) + 1e-3 * rng.normal(size=(50, 4))
    assert precision_recall(collapsed, a)[1] < 0.1  # a collapsed generator covers nothing
    with pytest.raises(Exception, match="more than k=3"):
        precision_recall(a[:3], a)


def test_the_floor_is_computed_on_disjoint_halves_of_the_same_size():
    rng = np.random.default_rng(1)
    features = np.concatenate([rng.normal(size=(301, 6)), np.arange(301)[:, None]], 1)  # last column: the row
    halves = RealHalves.split(features, 1000)
    assert len(halves.a) == len(halves.b) == 150
    assert not set(halves.a[:, -1]) & set(halves.b[:, -1])
    assert halves.floor == scores(halves.a, halves.b)
    assert len(RealHalves.split(features, 40).b) == 40


@pytest.mark.parametrize("n,dim", [(40, 64), (300, 8)])  # fewer samples than features, and more
def test_frechet_distance_matches_the_matrix_square_root(n, dim):
    from scipy import linalg

    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(n, dim)), rng.normal(size=(n + 7, dim)) * 1.3 + 0.2
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s_a + s_b - 2 * np.real(linalg.sqrtm(s_a @ s_b)))
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)


def test_the_spacing_of_real_images_leaves_out_each_image_itself():
    rng = np.random.default_rng(5)
    real = rng.normal(size=(300, 1280)) * 10 + 50  # float32 cdist puts many self-distances far above 0 here
    exact = np.sqrt(((real[:, None, :] - real[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(exact, np.inf)
    assert memorisation.real_spacing(real, sample=300) == pytest.approx(np.median(exact.min(1)), rel=1e-9)


def test_memorisation_finds_copies_and_not_new_images():
    rng = np.random.default_rng(3)
    real = rng.normal(size=(300, 16))
    copies = real[[5, 17, 99]] + 1e-3 * rng.normal(size=(3, 16))
    fresh = rng.normal(size=(20, 16))
    memo = memorisation.check(np.concatenate([copies, fresh]), real)
    assert memo.copies == 3 and list(memo.nearest[:3]) == [5, 17, 99]
    images = torch.randint(0, 255, (300, 1, 8, 8), dtype=torch.uint8)
    grid, labels = memorisation.pairs_grid(torch.rand(23, 1, 8, 8), images, memo, shown=4)
    assert grid.shape == (2, 4, 1, 8, 8) and labels[0].endswith("copy") and torch.equal(
        grid[1, 0], images[memo.nearest[np.argsort(memo.distance)[0]]].float() / 255)


def test_reconstruction_quality():
    x = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0))
    near = (x + 0.01 * torch.randn(3, 32, 32)).clamp(0, 1)
    far = torch.rand(3, 32, 32)
    good, bad = reconstruction_quality(x, near), reconstruction_quality(x, far)
    assert good["psnr"] > 35 > 15 > bad["psnr"] and good["ssim"] > 0.9 > 0.2 > bad["ssim"]


def test_cli_options_compare_and_weights(tmp_path, capsys):
    base = ["generate", "train", "--data", "digits:3", "--channels", "1", "--epochs", "2", "--width", "0.25",
            "--features", "pixels", "--health-samples", "32", "--runs-dir", str(tmp_path)]
    code, out = cnnlab(capsys, *base, "--name", "plain", "--diffaug", "none", "--augment", "seed")
    assert code == 0, out
    code, out = cnnlab(capsys, *base, "--name", "new", "--loss", "hinge", "--spectral-norm", "--r1", "0.2",
                       "--ema", "0.999")
    assert code == 0, out
    cfg = json.loads((tmp_path / "generate/new/config.json").read_text())
    assert (cfg["loss"], cfg["spectral_norm"], cfg["r1"], cfg["diffaug"], cfg["ema"]) == (
        "hinge", True, 0.2, "color,translation,cutout", 0.999)
    history = [json.loads(line) for line in (tmp_path / "generate/new/metrics.jsonl").read_text().splitlines()]
    assert all({"fid", "kid", "precision", "recall", "floor_fid", "r1"} <= set(r) for r in history)
    out_dir = tmp_path / "cmp"
    code, out = cnnlab(capsys, "generate", "compare", str(tmp_path / "generate/plain"), str(tmp_path / "generate/new"),
                       "--out", str(out_dir))
    assert code == 0, out
    rows = json.loads((out_dir / "compare.json").read_text())
    assert [r["run"] for r in rows] == ["plain", "new"] and rows[1]["loss"] == "hinge"
    assert all(r["FID floor"] > 0 and r["recall floor"] > 0 for r in rows)
    assert (out_dir / "compare.png").stat().st_size > 0 and "FID / floor" in (out_dir / "compare.html").read_text()
    for weights in ("raw", "ema"):
        code, out = cnnlab(capsys, "generate", "sample", str(tmp_path / "generate/new"), "-n", "4",
                           "--weights", weights, "--out", str(tmp_path / f"{weights}.png"))
        assert code == 0 and (tmp_path / f"{weights}.png").is_file(), out
    code, out = cnnlab(capsys, "generate", "sample", str(tmp_path / "generate/new"), "--weights", "mean",
                       "--out", str(tmp_path / "m.png"))
    assert code == 2 and "--weights" in out and not (tmp_path / "m.png").exists()
    code, out = cnnlab(capsys, *base, "--name", "bad", "--loss", "wgan")
    assert code == 2 and "--loss" in out and not (tmp_path / "generate/bad").exists()
    (tmp_path / "generate/plain/summary.json").unlink()
    code, out = cnnlab(capsys, "generate", "compare", str(tmp_path / "generate/plain"), "--out", str(tmp_path / "c2"))
    assert code != 0 and "did not finish" in out and not (tmp_path / "c2").exists()
    with pytest.raises(RunFolderError):
        load_generator(tmp_path / "cmp", torch.device("cpu"))
