"""What the generate robustness fixes guarantee: configs refuse bad values when built, config.json of another
shape is named as such, latents are read safely and checked against the generator."""

import pytest
import torch

from cnnlab.data.augment import AugmentConfig
from cnnlab.errors import ConfigError, DataError, RunFolderError, UnknownNameError
from cnnlab.generate.config import GanConfig
from cnnlab.generate.latent import interpolation_latents, invert, load_latent, render, scale_every
from cnnlab.generate.nets import create_generator


@pytest.mark.parametrize(("field", "value", "message"), [
    ("image_size", 48, "32 or 64"), ("image_size", 64.0, "whole number"), ("channels", 2, "1 .grayscale."),
    ("channels", True, "1 .grayscale."), ("generator", "nope", "generator"), ("latent_dim", 0, ">= 1"),
    ("width", 0, "> 0"), ("width", float("inf"), "finite"), ("epochs", 0, ">= 1"), ("batch_size", "32", "whole"),
    ("lr_d", 0.0, "> 0"), ("lr_g", float("nan"), "finite"), ("beta1", 1.0, "< 1"), ("beta2", -0.1, ">= 0"),
    ("label_noise", 0.5, "< 0.5"), ("augment", "seed", "AugmentConfig"), ("sample_every", 0, ">= 1"),
    ("health_samples", 7, ">= 8"), ("loss", "wgan", "loss"), ("diffaug", "colour", "--diffaug"),
    ("diffaug", "cutout,cutout", "each once"), ("ema", 1.0, "< 1"), ("ema", -0.1, ">= 0"),
    ("spectral_norm", "yes", "true or false"), ("r1", -1, ">= 0"), ("features", "run:", "--features"),
    ("features", "fid", "--features"),
    ("precision", "fp16", "precision"), ("seed", -1, ">= 0"), ("device", "cuda:x", "--device"),
    ("max_seconds", 0, "> 0"), ("name", "../x", "plain folder"), ("name", 5, "folder name"), ("data", "", "--data"),
    ("data", "folder:", "--data"), ("runs_dir", "", "--runs-dir"),
])
def test_gan_config_refuses_bad_values(field, value, message):
    with pytest.raises((ConfigError, UnknownNameError), match=message):
        GanConfig(**{field: value})


@pytest.mark.parametrize("stored", [
    [], None, {}, {"data": {"name": "digits"}, "model": "lenet5", "fit": {}, "augment": {}},
    {"data": "digits", "image_size": 32, "encoder": "resnet18", "epochs": 1, "finetune_epochs": 0, "augment": {}},
    {**GanConfig().to_dict(), "latent_dim": "128"}, {**GanConfig().to_dict(), "augment": None},
    {**GanConfig().to_dict(), "augment": {"spin": 1}}, {**GanConfig().to_dict(), "image_size": 128},
])
def test_config_json_of_another_shape_is_not_a_gan_run(stored):
    with pytest.raises(RunFolderError, match="generate"):
        GanConfig.from_dict(stored)
    cfg = GanConfig(image_size=32, augment=AugmentConfig(hflip=True))
    assert GanConfig.from_dict(cfg.to_dict()) == cfg


def test_latents_are_read_with_weights_only_and_checked(tmp_path):
    z = torch.randn(1, 16)
    torch.save(z, tmp_path / "z.pt")
    assert torch.equal(load_latent(tmp_path / "z.pt", 16), z[0])  # (1, latent), as invert once saved it
    torch.save(z[0].double(), tmp_path / "z64.pt")
    assert load_latent(tmp_path / "z64.pt", 16).dtype == torch.float32

    class Payload:
        def __reduce__(self):
            return (print, ("ran code from a latent file",))

    torch.save(Payload(), tmp_path / "evil.pt")
    with pytest.raises(DataError, match="cannot be read as a latent"):
        load_latent(tmp_path / "evil.pt", 16)
    with pytest.raises(DataError, match=r"shape \(1, 16\), but this generator takes latents of 8 values"):
        load_latent(tmp_path / "z.pt", 8)


def test_latent_tools_refuse_values_that_would_crash_or_mislead():
    G = create_generator("transposed", 8, 32, 1, width=0.25).eval()
    target = torch.rand(1, 32, 32)
    for kwargs in ({"steps": 0}, {"steps": -1}, {"lr": 0.0}, {"lr": float("nan")}, {"seed": -1}):
        with pytest.raises(ConfigError):
            invert(G, target, **kwargs)
    for every, factor in ((0, 5.0), (-5, 5.0), (5, float("inf"))):
        with pytest.raises(ConfigError):
            scale_every(torch.randn(8), every, factor)
    for steps in (0, 1, 101):
        with pytest.raises(ConfigError, match="--steps"):
            interpolation_latents(torch.randn(8), torch.randn(8), steps)
    assert interpolation_latents(torch.zeros(8), torch.ones(8), 2).tolist() == [[0.0] * 8, [1.0] * 8]
    z = torch.randn(300, 8)
    assert torch.allclose(render(G, z, batch_size=64), render(G, z), atol=1e-6)  # batches change nothing
