"""The engine's fast-path pieces on CPU: sharded device-resident loader, weight average, test-time flips,
compile warm-up bookkeeping, frozen whitening filters and the fast recipe's options."""

import pytest
import torch

from cnnlab.classify.config import RECIPES, ClassifyConfig, recipe_fit, recipe_values
from cnnlab.classify.training import classification_step, train_classifier
from cnnlab.data.augment import parse_augment
from cnnlab.data.datasets import DataConfig
from cnnlab.data.images import ImageData
from cnnlab.data.loader import BatchLoader
from cnnlab.errors import CnnlabError
from cnnlab.models import create_model
from cnnlab.models.factory import fit_to_data
from cnnlab.train.checkpoint import load_checkpoint
from tests.train.test_engine import small_config, stop_after


@pytest.fixture
def data(digits):
    images, labels = digits
    return ImageData(torch.from_numpy(images[:101])[:, None], torch.from_numpy(labels[:101]),
                     [str(d) for d in range(10)])


def test_sharded_loader_yields_every_sample_once_across_ranks(data):
    shards = [BatchLoader(data, 16, shuffle=True, seed=3, rank=r, world=2) for r in (0, 1)]
    for epoch in (0, 1):
        seen = []
        for loader in shards:
            loader.set_epoch(epoch)
            batches = list(loader)
            assert len(batches) == len(loader) == 7 and [len(y) for _, y in batches] == [8] * 6 + [2]
            seen += [x for b, _ in batches for x in b]
        # 101 images: each rank keeps 50 (the odd one out is dropped), in 6 batches of 8 and one of 2
        keys = {tuple((x * 255).round().flatten().tolist()) for x in seen}
        assert len(seen) == len(keys) == 100
    evaluation = [BatchLoader(data, 32, rank=r, world=2) for r in (0, 1)]
    assert sum(len(y) for loader in evaluation for _, y in loader) == 101  # evaluation keeps every image


def test_sharded_loader_wants_a_batch_that_divides(data):
    with pytest.raises(CnnlabError, match="does not divide among 3 ranks"):
        BatchLoader(data, 16, shuffle=True, rank=0, world=3)


def test_test_time_flips_make_predictions_mirror_invariant():
    torch.manual_seed(0)
    model = create_model("baseline-cnn", 1, 10, 16, mean=[0.5], std=[0.25], filters=(8, 8), dense=16).eval()
    x, y = torch.rand(6, 1, 16, 16), torch.zeros(6, dtype=torch.long)
    with torch.no_grad():
        tta = classification_step(tta=True)
        plain = classification_step()
        assert torch.allclose(tta(model, x, y).loss, tta(model, x.flip(-1), y).loss, atol=1e-6)
        assert not torch.allclose(plain(model, x, y).loss, plain(model, x.flip(-1), y).loss, atol=1e-6)


def test_weight_average_is_what_is_validated_kept_and_resumed(tmp_path):
    full = train_classifier(small_config(tmp_path / "a", ema=0.9))
    ckpt = load_checkpoint(tmp_path / "a/classify/run/checkpoints/last.pt")
    best = load_checkpoint(tmp_path / "a/classify/run/checkpoints/best.pt")
    raw, avg = ckpt["model"], ckpt["nets"]["ema"]
    key = next(k for k in raw if k.endswith("weight"))
    assert not torch.allclose(raw[key], avg[key])  # the average lags the weights
    assert best["epoch"] == full.state.best_epoch
    if best["epoch"] == full.state.epoch:
        assert torch.equal(best["model"][key], avg[key])  # the best checkpoint holds the averaged weights
    cut = train_classifier(small_config(tmp_path / "b", ema=0.9), callbacks=(stop_after(2),))
    assert cut.state.status == "interrupted"
    resumed = train_classifier(small_config(tmp_path / "b", ema=0.9), resume=True)
    assert [r["val_loss"] for r in resumed.state.history] == pytest.approx([r["val_loss"] for r in full.state.history])
    assert resumed.summary["test_acc"] == full.summary["test_acc"]


def test_compile_warm_up_is_timed_apart_and_leaves_the_weights_alone(tmp_path, monkeypatch):
    compiled = []

    def fake_compile(module, **kwargs):  # the bookkeeping, not inductor (minutes on 2 CPU cores)
        compiled.append(type(module).__name__)
        return module

    monkeypatch.setattr(torch, "compile", fake_compile)
    plain = train_classifier(small_config(tmp_path / "a"))
    warmed = train_classifier(small_config(tmp_path / "b", compile=True))
    assert compiled == ["ImageClassifier", "ImageClassifier"]  # the validated net and the trained one
    assert warmed.state.compile_seconds > 0 and warmed.summary["compile_seconds"] > 0
    assert [r["val_loss"] for r in warmed.state.history] == pytest.approx([r["val_loss"] for r in plain.state.history])


def test_channels_last_trains_the_same_model(tmp_path):
    a = train_classifier(small_config(tmp_path / "a", epochs=2))
    b = train_classifier(small_config(tmp_path / "b", epochs=2, channels_last="on"))
    assert [r["val_loss"] for r in b.state.history] == pytest.approx([r["val_loss"] for r in a.state.history],
                                                                     rel=1e-4)


def test_whitening_filters_decorrelate_patches_and_stay_frozen(digits):
    images, _ = digits
    x = torch.from_numpy(images[:300])[:, None].repeat(1, 3, 1, 1)
    x = torch.nn.functional.interpolate(x.float(), size=32).round().to(torch.uint8)
    x[:, 1] = x[:, 1] // 2
    model = create_model("airnet", 3, 10, 32, mean=[0.3] * 3, std=[0.3] * 3)
    fit_to_data(model, x)
    whiten = model.net.features[0]
    out = torch.nn.functional.conv2d(model.prepare(x.float() / 255), whiten.weight)[:, :12]
    cov = torch.cov(out.permute(1, 0, 2, 3).reshape(12, -1).double())
    strong = cov.diagonal() > 0.5  # directions with variance in the data come out with unit variance
    assert strong.sum() >= 3 and torch.allclose(cov.diagonal()[strong], torch.ones(int(strong.sum()), dtype=cov.dtype),
                                                atol=0.05)
    model.set_trainable("all")
    assert not whiten.weight.requires_grad and whiten.bias.requires_grad
    assert model(x[:4].float() / 255).shape == (4, 10)


def test_fast_recipe_values_and_command_line_overrides():
    r = recipe_values("fast", {"epochs": 3, "lr": None})
    assert r["model"] == "airnet" and r["epochs"] == 3 and r["lr"] == RECIPES["fast"]["lr"] and r["tta"]
    assert parse_augment(r["augment"]) == parse_augment("hflip,translate=2")
    with pytest.raises(CnnlabError, match="Unknown recipe 'fastest'"):
        recipe_values("fastest", {})


def test_fast_recipe_trains_airnet_past_chance(tmp_path, digits):
    """The recipe's network, augmentation, optimizer, schedule, weight average and flips, end to end."""
    r = recipe_values("fast", {"epochs": 8, "batch_size": 128, "ema": 0.9})  # 0.98 suits ~500 steps, not 88
    cfg = ClassifyConfig(data=DataConfig("digits", image_size=16), model=r["model"],
                         augment=parse_augment(r["augment"]),
                         fit=recipe_fit(r),
                         model_args={"widths": (16, 32, 32)}, runs_dir=str(tmp_path), name="fast")
    result = train_classifier(cfg)
    assert result.summary["test_acc"] > 0.7  # chance is 0.1


def test_a_loader_with_no_full_batch_is_our_error(data):
    """Dropping the last short batch of a set smaller than one batch leaves nothing to train on: our error, which
    says what to do, instead of an internal KeyError."""
    from cnnlab.errors import DataError
    from cnnlab.train import FitConfig, Task, fit

    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    train = BatchLoader(data, 128, shuffle=True, drop_last=True)
    with pytest.raises(DataError, match="lower --batch-size"):
        fit(Task("classify", net, classification_step(), train, BatchLoader(data, 128)), FitConfig(epochs=1),
            device=torch.device("cpu"))
